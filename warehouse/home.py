"""Warehouse layer: the home-directory contract.

`--home DIR`, else `$TEACHABLE_HOME`, else `./.teachable`. Everything teachable stores lives
below it: the DuckLake catalog (or catalog.json naming the PostgreSQL catalog it is bound to),
its Parquet data, releases/ and the LLM cache. The binding is written once, then fixed.

A home can be copied or moved as a whole (`cp -a`, `mv`): where it lives is never taken from what
it stores. catalog.json names a folder only when the config's warehouse.data_path chose one, and
the DuckLake catalog records the absolute data path it was created with but is opened with the
home's own data/ every time (`warehouse.lake.attach_options`), so a copy never writes into the
original's data/.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from schemas.errors import UserError
from schemas.warehouse import WarehouseSettings, normalise_catalog

HOME_ENV = "TEACHABLE_HOME"
CATALOG_ENV = "TEACHABLE_CATALOG"
DEFAULT_HOME = ".teachable"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, home: str | Path | None = None) -> "Home":
        chosen = home or os.environ.get(HOME_ENV) or DEFAULT_HOME
        root = Path(chosen).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise UserError(f"home {root} exists and is not a directory")
        return cls(root)

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.ducklake"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def binding_file(self) -> Path:
        return self.root / "catalog.json"

    @property
    def default_data_path(self) -> str:
        return f"{self.data}/"

    def data_path(self, binding: WarehouseSettings) -> str:
        return binding.data_path or self.default_data_path

    def exists(self) -> bool:
        return self.catalog.exists() or self.binding_file.exists()

    def check_catalog(self, binding: WarehouseSettings) -> None:
        """Refuse a home bound to its DuckDB catalog file (it opened once) that no longer has it:
        a writer would start an empty catalog beside the data the lost one described."""
        if not binding.is_postgres and self.binding_file.exists() and not self.catalog.exists():
            raise UserError(f"the warehouse catalog {self.catalog} is missing: {self._recovery()}")

    def damaged_catalog(self, reason: str) -> UserError:
        """The error for a DuckDB catalog file that does not open (truncated, overwritten, ...)."""
        return UserError(f"the warehouse catalog {self.catalog} cannot be read ({reason}): it is damaged "
                         f"or not a teachable catalog; {self._recovery()}")

    def _recovery(self) -> str:
        return (f"restore {self.catalog.name} from a backup or an intact copy of this home (copy the "
                f"whole folder: the catalog and {self.data.name}/ belong together), or move {self.root} "
                "aside to start an empty warehouse")

    def create(self) -> None:
        for path in (self.root, self.data, self.releases, self.cache):
            path.mkdir(parents=True, exist_ok=True)

    # --- catalog binding ---------------------------------------------------------------
    def binding(self, wanted: WarehouseSettings | None = None, *, store: bool = False) -> WarehouseSettings:
        """The catalog this home uses. The first writer stores `wanted`, else $TEACHABLE_CATALOG,
        else the DuckDB file; afterwards a request for another catalog is a UserError."""
        requests = [r for r in ((wanted, "the config's warehouse section"), catalog_from_env()) if r[0]]
        stored = self.stored_binding()
        chosen = stored or (requests[0][0] if requests else WarehouseSettings())
        for request, origin in requests:
            if not chosen.agrees_with(request, self.default_data_path):
                raise self._conflict(chosen, request, origin, bound=stored is not None)
        if store and not self.binding_file.exists():
            return self._store(chosen, wanted)
        return chosen

    def stored_binding(self) -> WarehouseSettings | None:
        if self.binding_file.exists():
            try:
                return WarehouseSettings.model_validate_json(self.binding_file.read_text(encoding="utf-8"))
            except (OSError, ValidationError) as exc:
                raise UserError(f"{self.binding_file} is not a valid catalog binding: {exc}") from None
        # A home made before bindings existed has its DuckDB catalog file and nothing else.
        return WarehouseSettings() if self.catalog.exists() else None

    def _store(self, chosen: WarehouseSettings, wanted: WarehouseSettings | None) -> WarehouseSettings:
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.root, prefix=".catalog-", delete=False) as tmp:
            tmp.write(chosen.model_dump_json(indent=2) + "\n")
        try:
            os.link(tmp.name, self.binding_file)  # fails if another process bound the home first
        except FileExistsError:
            return self.binding(wanted)  # theirs is stored now: agree with it or refuse
        finally:
            os.unlink(tmp.name)
        return chosen

    def _conflict(
        self, chosen: WarehouseSettings, request: WarehouseSettings, origin: str, bound: bool
    ) -> UserError:
        default = self.default_data_path
        if bound:
            return UserError(
                f"home {self.root} is bound to {chosen.describe(default)} but {origin} asks for "
                f"{request.describe(default)}: use another --home, or drop the conflicting setting"
            )
        return UserError(f"the config's warehouse section asks for {chosen.describe(default)} but "
                         f"{origin} for {request.describe(default)}: make them agree")


def catalog_from_env() -> tuple[WarehouseSettings | None, str]:
    """($TEACHABLE_CATALOG as settings, where it came from); (None, "") when unset."""
    raw = os.environ.get(CATALOG_ENV, "").strip()
    if not raw:
        return None, ""
    try:
        return WarehouseSettings(catalog=normalise_catalog(raw)), f"${CATALOG_ENV}"
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too; neither echoes raw
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise UserError(f"{CATALOG_ENV}: {message}") from None
