"""Warehouse layer: the home-directory contract.

`--home DIR`, else `$TEACHABLE_HOME`, else `./.teachable`. Everything teachable stores lives
below it: the DuckLake catalog, its Parquet data, releases/ and the LLM cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import UserError

HOME_ENV = "TEACHABLE_HOME"
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

    def exists(self) -> bool:
        return self.catalog.exists()

    def create(self) -> None:
        for path in (self.root, self.data, self.releases, self.cache):
            path.mkdir(parents=True, exist_ok=True)
