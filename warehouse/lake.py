"""Warehouse layer: DuckLake-on-DuckDB access for every stage.

Opens the catalog a `Home` is bound to (the DuckDB file below it, or a PostgreSQL database)
with DuckDB extensions taken from their pinned PyPI wheels (never downloaded), creates or
migrates the tables of `schemas.records`, and offers the only write path: one transaction =
one snapshot, with idempotent inserts keyed on each table's identity columns. Knows no stage logic.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas.arrow import arrow_schema, duckdb_columns
from schemas.errors import UserError, WarehouseBusyError
from schemas.records import Record
from schemas.tables import TABLES
from schemas.warehouse import WarehouseSettings
from warehouse.home import Home

CATALOG = "lake"
# extension -> (the wheel's module, the extension's file stem and catalog name)
EXTENSIONS = {
    "ducklake": ("duckdb_extension_ducklake", "ducklake"),
    "postgres": ("duckdb_extension_postgres_scanner", "postgres_scanner"),
}


@cache
def extension_path(name: str) -> Path:
    """The extension binary shipped in its duckdb-extension-* wheel, for this duckdb version."""
    module, stem = EXTENSIONS[name]
    root = Path(importlib.import_module(module).__file__).parent / "extensions"
    wanted = root / f"v{duckdb.__version__}" / f"{stem}.duckdb_extension"
    if not wanted.exists():
        found = sorted(p.parent.name for p in root.glob(f"*/{stem}.duckdb_extension"))
        raise RuntimeError(
            f"duckdb {duckdb.__version__} needs {module.replace('_', '-')} of the same version; "
            f"installed wheel has {found}. Reinstall with `make install`."
        )
    return wanted


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    stem = EXTENSIONS[name][1]
    installed = con.execute(
        "SELECT installed FROM duckdb_extensions() WHERE extension_name = ?", [stem]
    ).fetchone()
    if not (installed and installed[0]):
        # INSTALL from the local file also lets a plain `LOAD ...` work for users later.
        con.execute(f"INSTALL {sql_literal(str(extension_path(name)))}")
    con.execute(f"LOAD {stem}")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def attach_target(home: Home, binding: WarehouseSettings) -> str:
    return f"ducklake:postgres:{binding.conninfo}" if binding.is_postgres else f"ducklake:{home.catalog}"


def attach_options(home: Home, binding: WarehouseSettings, read_only: bool) -> list[str]:
    options = ["READ_ONLY"] if read_only else []
    if binding.is_postgres or binding.data_path:
        # A shared or chosen data folder: readers take the one the catalog recorded, writers
        # state it so a mismatch is caught.
        return options or [f"DATA_PATH {sql_literal(home.data_path(binding))}"]
    # HOME/data, wherever the home is now. DuckLake records the absolute data path a catalog was
    # created with (and each file relative to it): a copied or moved home would read the
    # original's files and refuse to write, so every open overrides it (for that session only).
    return options + [f"DATA_PATH {sql_literal(home.default_data_path)}", "OVERRIDE_DATA_PATH true"]


def attach_sql(home: Home, binding: WarehouseSettings, read_only: bool) -> str:
    options = ", ".join(attach_options(home, binding, read_only))
    return f"ATTACH {sql_literal(attach_target(home, binding))} AS {CATALOG} ({options})"


def attach_catalog(con: duckdb.DuckDBPyConnection, home: Home, binding: WarehouseSettings, read_only: bool,
                   holding: AbstractContextManager[None] | None = None) -> None:
    """ATTACH the home's catalog as `lake` and USE it (its extensions loaded), the ATTACH inside
    `holding`; a catalog that does not open, or is damaged, is a one-line UserError."""
    try:
        with holding or nullcontext():
            con.execute(attach_sql(home, binding, read_only))
        con.execute(f"USE {CATALOG}")  # reads the latest snapshot: a damaged catalog fails here
        if not binding.is_postgres:
            check_catalog_size(con, home)
    except duckdb.Error as exc:
        error = open_error(home, binding, exc)
        if error is None:
            raise
        raise error from None


class PostgresWriterLock:
    """Orders the write transactions of every process on one PostgreSQL catalog.

    DuckLake lets several connections commit, but two writers could both find a key missing and
    both insert it, breaking `insert_new`. A transaction-level advisory lock, taken on a
    connection of its own before BEGIN and given back after COMMIT, serialises whole write
    transactions; PostgreSQL drops it when its holder dies, even by SIGKILL. Readers never wait.
    """

    KEY = 0x7465616368  # any fixed bigint: advisory locks are per database, one catalog per database

    def __init__(self, conninfo: str):
        self.con = duckdb.connect()
        load_extension(self.con, "postgres")
        self.con.execute(f"ATTACH {sql_literal(conninfo)} AS writer_lock (TYPE postgres)")

    @contextmanager
    def held(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute(
                "SELECT * FROM postgres_query('writer_lock', "
                f"'SELECT pg_advisory_xact_lock({self.KEY})::text')"
            ).fetchall()
            yield
        finally:
            self.con.execute("ROLLBACK")  # ends the PostgreSQL transaction: the lock goes with it

    def close(self) -> None:
        self.con.close()


def open_error(home: Home, binding: WarehouseSettings, exc: duckdb.Error) -> UserError | None:
    """The user-facing error for a catalog that cannot be opened, or None for a bug."""
    message = str(exc)
    if not binding.is_postgres:
        # DuckDB's words for a file another process holds ("... in block at ..." is corruption)
        if isinstance(exc, duckdb.IOException) and "Could not set lock on file" in message:
            return WarehouseBusyError(
                f"warehouse {home.root} is in use by another teachable process; "
                "wait for it to finish and retry"
            )
        if isinstance(exc, _UNREADABLE) and home.catalog.is_file() and "does not match existing data path" \
                not in message:
            if "Permission denied" in message:
                return UserError(f"cannot open the warehouse catalog {home.catalog}: permission denied")
            return home.damaged_catalog(duckdb_reason(message.replace(str(home.catalog), home.catalog.name)))
        return None
    if "does not match existing data path" in message:
        return UserError(
            f"the PostgreSQL catalog {binding.conninfo} keeps its data in another folder "
            f"({message.splitlines()[0]}): set the config's warehouse.data_path to that folder"
        )
    if "creating a new DuckLake is explicitly disabled" in message:
        return UserError(f"no warehouse in the PostgreSQL catalog {binding.conninfo}: ingest something first")
    return UserError(f"cannot open the PostgreSQL catalog {binding.conninfo}: {libpq_reason(message)}")


# What DuckDB raises for a catalog file it cannot read: truncated (IO), overwritten (IO: "not a
# valid DuckDB database file"), failed checksums (IO), a DuckDB file that holds no DuckLake (invalid
# input, for a reader), and what a damaged block can turn into.
_UNREADABLE = (duckdb.IOException, duckdb.InvalidInputException, duckdb.SerializationException,
               duckdb.InternalException, duckdb.CatalogException)


def check_catalog_size(con: duckdb.DuckDBPyConnection, home: Home) -> None:
    """Refuse an attached DuckDB catalog file shorter than its blocks: a truncated copy opens and
    fails only once a query reaches a lost block. The file is never opened here: closing any
    descriptor of it would drop the lock DuckDB holds on it for this process (POSIX locks)."""
    row = con.execute(
        "SELECT block_size, total_blocks, used_blocks FROM pragma_database_size() WHERE database_name = ?",
        [f"__ducklake_metadata_{CATALOG}"],
    ).fetchone()
    if not row or not row[0]:
        return
    block_size, total, used = row
    size = home.catalog.stat().st_size
    # DuckDB cuts trailing free blocks off the file at a checkpoint while total_blocks (free ones
    # included) may still count them (seen on a reopen in the same process, e.g. the third stage of
    # a curate run): the file always ends on a block boundary and holds at least the used blocks.
    blocks, partial = divmod(size - 3 * _FILE_HEADER, block_size)  # a main and two database headers
    if size < 3 * _FILE_HEADER or partial or blocks < used:
        expected = 3 * _FILE_HEADER + block_size * total
        raise home.damaged_catalog(f"the file is truncated: {size} of {expected} bytes")


_FILE_HEADER = 4096  # DuckDB's Storage::FILE_HEADER_SIZE


def duckdb_reason(message: str) -> str:
    """DuckDB's first line without the attach preamble that names the catalog again."""
    line = message.splitlines()[0] if message else "unknown error"
    line = re.sub(r'^.*?DuckLake MetaData "[^"]*" at path \+ "[^"]*"', "", line)
    line = re.sub(r"^(IO|Invalid Input|Serialization|INTERNAL|Catalog) Error: ", "", line).strip()
    return line if len(line) <= 200 else line[:197] + "..."


def libpq_reason(message: str) -> str:
    """libpq's own words: they follow the (password-free) connection string DuckDB quotes."""
    _, found, tail = message.partition("Unable to connect to Postgres at ")
    text = tail.partition('": ')[2] if found else message
    return text.splitlines()[0].strip()


def bind_catalog(home: Home, warehouse: WarehouseSettings | None) -> None:
    """Check `warehouse` (a pipeline config's) against the home's binding; bind an unbound home
    to it by opening the catalog once, so a catalog that does not open is never kept."""
    home.binding(warehouse)  # a conflict raises here, before any connection
    if warehouse is not None and not home.binding_file.exists():
        Lake(home, warehouse=warehouse).close()


class Lake:
    """An open warehouse. Use as a context manager. A writer holds a DuckDB-file catalog
    exclusively; on a PostgreSQL catalog writers take turns per transaction, readers never wait."""

    def __init__(self, home: Home, read_only: bool = False, warehouse: WarehouseSettings | None = None):
        """`warehouse`: the catalog a pipeline config asks for (else the home's binding, else
        $TEACHABLE_CATALOG, else the DuckDB file); a writer binds the home to it once it opened."""
        self.home = home
        self.read_only = read_only
        self.binding = home.binding(warehouse)
        if read_only and not home.exists() and not self.binding.is_postgres:
            raise UserError(f"no warehouse at {home.root}: ingest something first")
        home.check_catalog(self.binding)
        if not read_only:
            home.create()
            Path(home.data_path(self.binding)).mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect()
        self._writer_lock: PostgresWriterLock | None = None
        try:
            self._attach()
            if not read_only:  # bound only once it opened: a typo in the catalog is not kept
                self.binding = home.binding(warehouse, store=True)
                self.migrate()
        except BaseException:
            self.close()
            raise

    def _attach(self) -> None:
        try:
            load_extension(self.con, "ducklake")
            if self.binding.is_postgres:
                load_extension(self.con, "postgres")
                if not self.read_only:
                    self._writer_lock = PostgresWriterLock(self.binding.conninfo)
        except duckdb.Error as exc:
            error = open_error(self.home, self.binding, exc)
            if error is None:
                raise
            raise error from None
        # two first writers must not both create the catalog's tables
        attach_catalog(self.con, self.home, self.binding, self.read_only, self._writing())

    def _writing(self) -> AbstractContextManager[None]:
        return self._writer_lock.held() if self._writer_lock else nullcontext()

    def __enter__(self) -> "Lake":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()
        if self._writer_lock:
            self._writer_lock.close()

    # --- schema -------------------------------------------------------------------------
    def columns(self, table: str) -> list[str]:
        rows = self.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_name = ? ORDER BY ordinal_position",
            [CATALOG, table],
        ).fetchall()
        return [r[0] for r in rows]

    def migrate(self) -> list[str]:
        """Create missing tables and add missing columns (additive, in one snapshot).

        The columns are read inside the transaction: on a PostgreSQL catalog another process may
        have migrated between our open and our turn at the writer lock."""
        with self.transaction():
            changes = self._schema_changes()
            for statement in changes:
                self.con.execute(statement)
        return changes

    def _schema_changes(self) -> list[str]:
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
        return changes

    # --- writes -------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One DuckLake snapshot; an exception (or a crash) leaves no partial rows."""
        with self._writing():
            self.con.execute("BEGIN TRANSACTION")
            try:
                self._sign()
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def label(self, message: str, **extra: object) -> None:
        """Name every later snapshot of this connection (stage and run), so `snapshots()` and
        `teachable maintain` tell what wrote each one."""
        self._label = (message, json.dumps(extra, default=str, sort_keys=True))

    def _sign(self) -> None:
        message, extra = getattr(self, "_label", None) or ("teachable", "{}")
        self.con.execute(f"CALL {CATALOG}.set_commit_message('teachable', ?, extra_info => ?)", [message, extra])

    @contextmanager
    def registered(self, name: str, table: pa.Table) -> Iterator[None]:
        """An Arrow table visible to SQL as `name` for the duration of the block."""
        self.con.register(name, table)
        try:
            yield
        finally:
            self.con.unregister(name)

    def insert_new(self, model: type[Record], batch: pa.Table) -> int:
        """Insert the rows whose key is not in the table yet; returns how many were new."""
        if batch.num_rows == 0:
            return 0
        batch = batch.select(arrow_schema(model).names).cast(arrow_schema(model))
        table = f"{CATALOG}.{quote(model.__table__)}"
        match = " AND ".join(f"t.{quote(k)} = b.{quote(k)}" for k in model.__key__)
        with self.registered("_teachable_batch", batch):
            row = self.con.execute(
                f"INSERT INTO {table} BY NAME SELECT * FROM _teachable_batch AS b "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {match})"
            ).fetchone()
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
        """Rows of a table; 0 for a table this home does not have yet (a read-only open of a home
        written by an older version cannot create the tables added since)."""
        if not self.columns(table):
            return 0
        return int(self.con.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()[0])

    def query(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        return self.con.execute(sql, params or []).fetch_arrow_table()


def run_read_only(lake: Lake, sql: str, *, allow_files: bool = True) -> pa.Table:
    """Run user SQL (`teachable sql`) that may only read, on a locked connection of its own (see
    warehouse.readonly); every statement must be allowed, the last one's result is returned.
    `allow_files=False`: local files are not readable either, only the lake's tables."""
    with read_only_sql(lake.home, lake.binding, allow_files=allow_files) as session:
        return session.run(sql)


def read_only_sql(home: Home, binding: WarehouseSettings, allow_files: bool = True):  # -> ReadOnlySql
    """A locked connection for user SQL on the home's catalog (warehouse.readonly.ReadOnlySql)."""
    from warehouse.readonly import ReadOnlySql  # loaded by `teachable sql` only

    return ReadOnlySql(lambda con: attach_for_user_sql(con, home, binding), allow_files=allow_files)


def attach_for_user_sql(con: duckdb.DuckDBPyConnection, home: Home, binding: WarehouseSettings) -> list[str]:
    """Attach the catalog READ_ONLY as `lake` on `con`, its extensions LOADed from the wheels by
    path (nothing is installed); the folders its data files may be read from: where the catalog
    records them and where this home keeps them."""
    try:
        for name in ("ducklake", "postgres") if binding.is_postgres else ("ducklake",):
            con.execute(f"LOAD {sql_literal(str(extension_path(name)))}")
        con.execute(attach_sql(home, binding, read_only=True))
        con.execute(f"USE {CATALOG}")
    except duckdb.Error as exc:
        error = open_error(home, binding, exc)
        if error is None:
            raise
        raise error from None
    recorded = con.execute(f"SELECT value FROM {CATALOG}.options() WHERE option_name = 'data_path'").fetchall()
    return sorted({home.data_path(binding), *(row[0] for row in recorded if row[0])})


def to_json_rows(table: pa.Table) -> str:
    return json.dumps(table.to_pylist(), default=str, ensure_ascii=False)


def duckdb_lines(home: Home) -> list[str]:
    """The lines a user runs in plain DuckDB (Python) to open this warehouse read-only."""
    binding = home.binding()
    loads = "LOAD ducklake; LOAD postgres" if binding.is_postgres else "LOAD ducklake"
    options = ", ".join(attach_options(home, binding, read_only=True))
    attach = f"con.sql(\"ATTACH {sql_literal(attach_target(home, binding))} AS lake ({options}); USE lake\")"
    if binding.is_postgres:
        attach += "  # password, if any: PGPASSWORD or ~/.pgpass"
    return [
        "import duckdb; con = duckdb.connect()",
        f'con.sql("{loads}")  # installed from the pinned wheels by teachable',
        attach,
        'con.sql("SELECT source, count(*) FROM prompts GROUP BY 1").show()',
    ]
