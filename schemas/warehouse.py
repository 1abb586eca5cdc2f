"""Schemas layer: where a home's DuckLake catalog and data live (the `warehouse:` config section).

`catalog` is `duckdb` (the file HOME/catalog.ducklake, the default) or `postgres:` followed by a
libpq connection string (`dbname=... host=... port=... user=...`, or a `postgresql://` URI).
A password in it is refused: the binding is stored in the home and printed by `teachable
status`, so the password goes to libpq through PGPASSWORD or ~/.pgpass. Pure parsing, no I/O.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pydantic import ConfigDict, Field, field_validator

from schemas.config_base import Settings

DUCKDB = "duckdb"
POSTGRES = "postgres:"
_URI_SCHEMES = ("postgresql://", "postgres://")
# libpq key=value syntax: a value is a run of non-blank characters or a single-quoted string;
# a backslash escapes the next character in both.
_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)+)")
NO_PASSWORD = (
    "the catalog connection string must not contain a password (teachable stores the binding in "
    "the home and prints it): remove it and give it to libpq through the PGPASSWORD environment "
    "variable or ~/.pgpass"
)
FORMS = ("catalog must be 'duckdb' or 'postgres:' plus a libpq connection string, e.g. "
         "'postgres:dbname=teachable host=127.0.0.1 port=5432 user=teachable'")


def parse_conninfo(text: str) -> dict[str, str]:
    """libpq `key=value ...` pairs; raises ValueError (never echoing values) when malformed."""
    pairs: dict[str, str] = {}
    pos, text = 0, text.strip()
    while pos < len(text):
        match = _PAIR.match(text, pos)
        if match is None:
            raise ValueError(f"malformed PostgreSQL connection string at character {pos + 1}: {FORMS}")
        pairs[match.group(1)] = _unquote(match.group(2))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return pairs


def _unquote(raw: str) -> str:
    body = raw[1:-1] if raw.startswith("'") else raw
    return re.sub(r"\\(.)", r"\1", body)


def _quote(value: str) -> str:
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _checked_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise ValueError(NO_PASSWORD)
    return uri


def _checked_pairs(text: str) -> str:
    pairs = parse_conninfo(text)
    if not pairs:
        raise ValueError(FORMS)
    if "password" in pairs:
        raise ValueError(NO_PASSWORD)
    # Sorted keys: the same catalog written in another order is the same binding.
    return " ".join(f"{key}={_quote(pairs[key])}" for key in sorted(pairs))


def normalise_catalog(text: str) -> str:
    """`duckdb` or `postgres:<conninfo>` in one canonical spelling; ValueError if not a catalog."""
    text = text.strip()
    if text.lower() in ("", DUCKDB):
        return DUCKDB
    text = text.removeprefix("ducklake:")  # the form DuckDB's ATTACH takes is accepted too
    if text.startswith(_URI_SCHEMES):
        return POSTGRES + _checked_uri(text)
    if not text.startswith(POSTGRES):
        raise ValueError(FORMS)
    rest = text.removeprefix(POSTGRES).strip()
    return POSTGRES + (_checked_uri(rest) if rest.startswith(_URI_SCHEMES) else _checked_pairs(rest))


class WarehouseSettings(Settings):
    """The catalog a home is bound to (stored as HOME/catalog.json) and where its Parquet goes."""

    # Errors must not echo the input: a refused catalog string may hold a password.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    catalog: str = Field(
        DUCKDB,
        description="`duckdb` (HOME/catalog.ducklake) or `postgres:<libpq connection string>`; "
        "no password: use PGPASSWORD or ~/.pgpass.",
    )
    data_path: str | None = Field(
        None,
        description="Absolute folder for the Parquet data files (default HOME/data); with a "
        "PostgreSQL catalog shared by several machines, a folder they all see.",
    )

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, value: str) -> str:
        return normalise_catalog(value)

    @field_validator("data_path")
    @classmethod
    def _data_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" in value:
            raise ValueError("data_path must be a local or mounted folder (no object storage yet)")
        path = Path(value).expanduser()
        if not path.is_absolute():
            raise ValueError("data_path must be an absolute path")
        return str(path).rstrip("/") + "/"

    @property
    def is_postgres(self) -> bool:
        return self.catalog.startswith(POSTGRES)

    @property
    def conninfo(self) -> str:
        """The libpq connection string (PostgreSQL catalogs only)."""
        return self.catalog.removeprefix(POSTGRES)

    def agrees_with(self, request: "WarehouseSettings", default_data_path: str) -> bool:
        """Does `request` ask for this binding? Its data path counts only when it names one."""
        mine = self.data_path or default_data_path
        return self.catalog == request.catalog and request.data_path in (None, mine)

    def describe(self, default_data_path: str) -> str:
        where = "the DuckDB file catalog.ducklake" if self.catalog == DUCKDB else self.catalog
        return f"{where} (data in {self.data_path or default_data_path})"
