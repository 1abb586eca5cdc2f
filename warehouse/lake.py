"""Warehouse layer: DuckLake-on-DuckDB access for every stage.

Opens the catalog below a `Home` with the DuckLake extension taken from the pinned
`duckdb-extension-ducklake` wheel (never downloaded), creates or migrates the tables of
`schemas.records`, and offers the only write path: one transaction = one snapshot, with
idempotent inserts keyed on each table's identity columns. Knows no stage logic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas.arrow import arrow_schema, duckdb_columns
from schemas.errors import UserError, WarehouseBusyError
from schemas.records import Record
from schemas.tables import TABLES
from warehouse.home import Home

CATALOG = "lake"


@cache
def ducklake_extension_path() -> Path:
    """The extension binary shipped in the duckdb-extension-ducklake wheel."""
    import duckdb_extension_ducklake

    root = Path(duckdb_extension_ducklake.__file__).parent / "extensions"
    wanted = root / f"v{duckdb.__version__}" / "ducklake.duckdb_extension"
    if not wanted.exists():
        found = sorted(p.parent.name for p in root.glob("*/ducklake.duckdb_extension"))
        raise RuntimeError(
            f"duckdb {duckdb.__version__} needs duckdb-extension-ducklake of the same version; "
            f"installed wheel has {found}. Reinstall with `make install`."
        )
    return wanted


def load_ducklake(con: duckdb.DuckDBPyConnection) -> None:
    installed = con.execute(
        "SELECT installed FROM duckdb_extensions() WHERE extension_name = 'ducklake'"
    ).fetchone()
    if not (installed and installed[0]):
        # INSTALL from the local file also lets a plain `LOAD ducklake` work for users later.
        con.execute(f"INSTALL '{ducklake_extension_path()}'")
    con.execute("LOAD ducklake")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def attach_sql(home: Home, read_only: bool) -> str:
    options = ["READ_ONLY"] if read_only else [f"DATA_PATH '{home.data}/'"]
    return f"ATTACH 'ducklake:{home.catalog}' AS {CATALOG} ({', '.join(options)})"


class Lake:
    """An open warehouse. Use as a context manager; writers hold the catalog exclusively."""

    def __init__(self, home: Home, read_only: bool = False):
        self.home = home
        self.read_only = read_only
        if read_only and not home.exists():
            raise UserError(f"no warehouse at {home.root}: ingest something first")
        if not read_only:
            home.create()
        self.con = duckdb.connect()
        try:
            load_ducklake(self.con)
            self.con.execute(attach_sql(home, read_only))
        except duckdb.IOException as exc:
            self.con.close()
            if "lock" in str(exc).lower():
                raise WarehouseBusyError(
                    f"warehouse {home.root} is in use by another teachable process; "
                    "wait for it to finish and retry"
                ) from None
            raise
        self.con.execute(f"USE {CATALOG}")
        if not read_only:
            self.migrate()

    def __enter__(self) -> "Lake":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # --- schema -------------------------------------------------------------------------
    def columns(self, table: str) -> list[str]:
        rows = self.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_name = ? ORDER BY ordinal_position",
            [CATALOG, table],
        ).fetchall()
        return [r[0] for r in rows]

    def migrate(self) -> list[str]:
        """Create missing tables and add missing columns (additive, in one snapshot)."""
        changes: list[str] = []
        for model in TABLES:
            existing = set(self.columns(model.__table__))
            wanted = duckdb_columns(model)
            if not existing:
                cols = ", ".join(f"{quote(n)} {t}" for n, t in wanted)
                changes.append(f"CREATE TABLE {CATALOG}.{quote(model.__table__)} ({cols})")
            else:
                changes += [
                    f"ALTER TABLE {CATALOG}.{quote(model.__table__)} ADD COLUMN {quote(n)} {t}"
                    for n, t in wanted
                    if n not in existing
                ]
        if changes:
            with self.transaction():
                for statement in changes:
                    self.con.execute(statement)
        return changes

    # --- writes -------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One DuckLake snapshot; an exception (or a crash) leaves no partial rows."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def insert_new(self, model: type[Record], batch: pa.Table) -> int:
        """Insert the rows whose key is not in the table yet; returns how many were new."""
        if batch.num_rows == 0:
            return 0
        batch = batch.select(arrow_schema(model).names).cast(arrow_schema(model))
        table = f"{CATALOG}.{quote(model.__table__)}"
        match = " AND ".join(f"t.{quote(k)} = b.{quote(k)}" for k in model.__key__)
        self.con.register("_teachable_batch", batch)
        try:
            row = self.con.execute(
                f"INSERT INTO {table} BY NAME SELECT * FROM _teachable_batch AS b "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {match})"
            ).fetchone()
        finally:
            self.con.unregister("_teachable_batch")
        return int(row[0]) if row else 0

    def insert_records(self, records: Sequence[Record]) -> int:
        if not records:
            return 0
        model = type(records[0])
        batch = pa.Table.from_pylist([r.model_dump() for r in records], schema=arrow_schema(model))
        return self.insert_new(model, batch)

    # --- reads --------------------------------------------------------------------------
    def current_snapshot(self) -> int:
        row = self.con.execute(f"SELECT max(snapshot_id) FROM {CATALOG}.snapshots()").fetchone()
        return int(row[0])

    def count(self, table: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()[0])

    def query(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        return self.con.execute(sql, params or []).fetch_arrow_table()


_READ_ONLY_TYPES = {"SELECT", "EXPLAIN", "PRAGMA"}


def run_read_only(lake: Lake, sql: str) -> pa.Table:
    """Run user SQL that may only read; the last statement's result is returned."""
    try:
        statements = lake.con.extract_statements(sql)
    except duckdb.Error as exc:
        raise UserError(f"SQL error: {str(exc).splitlines()[0]}") from None
    if not statements:
        raise UserError("no SQL statement given")
    for statement in statements:
        kind = statement.type.name
        if kind not in _READ_ONLY_TYPES:
            raise UserError(f"only read-only queries are allowed here (got {kind})")
    result = None
    try:
        for statement in statements:
            result = lake.con.execute(statement.query).fetch_arrow_table()
    except duckdb.Error as exc:
        raise UserError(f"SQL error: {str(exc).splitlines()[0]}") from None
    assert result is not None
    return result


def to_json_rows(table: pa.Table) -> str:
    return json.dumps(table.to_pylist(), default=str, ensure_ascii=False)


def duckdb_lines(home: Home) -> list[str]:
    """The lines a user runs in plain DuckDB (Python) to open this warehouse read-only."""
    return [
        "import duckdb; con = duckdb.connect()",
        'con.sql("LOAD ducklake")  # installed from the pinned wheel by teachable',
        f"con.sql(\"ATTACH 'ducklake:{home.catalog}' AS lake (READ_ONLY); USE lake\")",
        'con.sql("SELECT source, count(*) FROM prompts GROUP BY 1").show()',
    ]
