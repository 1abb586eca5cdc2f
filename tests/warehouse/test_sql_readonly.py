"""`teachable sql` only reads: generated write attempts change no byte anywhere, reads still work.

The home is a real one (the project's Lake, rows inlined in the catalog and in Parquet files, a
data file scheduled for deletion, an orphan file, a sealed release); statements also aim at a
watched target folder, and HOME points at a watched folder so DuckDB's extension and secret
directories are watched too. Every file there is hashed before and after.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.errors import UserError
from schemas.records import Prompt
from warehouse.lake import Lake, extension_path, read_only_sql, run_read_only

METADATA = "__ducklake_metadata_lake"  # where DuckLake attaches the catalog database of `lake`


def prompt_rows(ids: list[str]) -> pa.Table:
    at = dt.datetime.now(dt.UTC)
    n = len(ids)
    return pa.table({
        "prompt_id": ids, "source": ["s"] * n, "source_file": ["f"] * n,
        "source_id": [str(i) for i in range(n)], "problem": ["p"] * n,
        "domain": ["math", "code"] * (n // 2) + ["math"] * (n % 2), "text_hash": ids, "run_id": ["r"] * n,
        "ingested_at": [at] * n, "answer": [None] * n, "answer_raw": [None] * n, "extra": [None] * n,
    })


def fill(home, warehouse=None) -> None:
    """Rows in Parquet files and inlined in the catalog, and a data file scheduled for deletion
    (so DuckLake's cleanup functions have something to delete)."""
    with Lake(home, warehouse=warehouse) as lake:
        with lake.transaction():
            lake.insert_new(Prompt, prompt_rows([f"old{i}" for i in range(200)]))
        with lake.transaction():
            lake.insert_new(Prompt, prompt_rows([f"new{i}" for i in range(200)]))
        with lake.transaction():
            lake.con.execute("DELETE FROM prompts WHERE prompt_id LIKE 'old%'")
        lake.con.execute("CALL ducklake_merge_adjacent_files('lake')")
        lake.con.execute("CALL ducklake_expire_snapshots('lake', older_than => now())")
        with lake.transaction():
            lake.insert_new(Prompt, prompt_rows(["a", "b", "c"]))  # few rows: inlined
        scheduled = lake.con.execute(
            f"SELECT count(*) FROM {METADATA}.ducklake_files_scheduled_for_deletion").fetchone()[0]
        assert scheduled > 0, "the fixture must give ducklake_cleanup_old_files a file to delete"


class World:
    """The home, the folders statements aim at, and a hash of every file in them."""

    def __init__(self, home, tmp_path: Path):
        self.home = home
        self.target = tmp_path / "target"
        self.user_home = tmp_path / "user-home"
        self.scratch = tmp_path / "tmp"
        for folder in (self.target, self.user_home, self.scratch):
            folder.mkdir()
        self.data_file = min(Path(home.data).rglob("*.parquet"))
        self.orphan = self.data_file.parent / "orphan.parquet"
        self.orphan.write_bytes(self.data_file.read_bytes())
        self.release = home.releases / "demo" / "v1"
        self.release.mkdir(parents=True)
        pq.write_table(prompt_rows(["r1", "r2"]), self.release / "data.parquet")
        (self.release / "README.md").write_text("sealed\n")
        self.victim = self.target / "victim.csv"
        self.victim.write_text("a\n1\n")
        self.local_parquet = self.target / "local.parquet"
        pq.write_table(pa.table({"a": [1, 2, 3]}), self.local_parquet)
        # A folder IMPORT DATABASE would run: statements that create and fill a table.
        self.import_dir = self.target / "import"
        self.import_dir.mkdir()
        (self.import_dir / "schema.sql").write_text("CREATE TABLE imported (a INTEGER);\n")
        (self.import_dir / "load.sql").write_text(f"COPY imported FROM '{self.victim}' (FORMAT csv, HEADER);\n")

    def snapshot(self) -> dict[str, str]:
        state = {}
        for root in (self.home.root, self.target, self.user_home, self.scratch):
            for path in sorted(Path(root).rglob("*")):
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        return state


@pytest.fixture
def world(home, tmp_path, monkeypatch):
    fill(home)
    made = World(home, tmp_path)
    monkeypatch.setenv("HOME", str(made.user_home))  # DuckDB's ~/.duckdb: extensions, secrets
    monkeypatch.setattr(tempfile, "tempdir", str(made.scratch))  # the sessions' scratch folders
    Lake(home, read_only=True).close()  # the Lake itself installs ducklake from its wheel, once
    return made


# --- the generated write attempts ----------------------------------------------------------
CALLS = [  # DuckLake maintenance and other functions with side effects, callable from a SELECT
    "ducklake_expire_snapshots('lake', older_than => now())",
    "ducklake_merge_adjacent_files('lake')",
    "ducklake_cleanup_old_files('lake', cleanup_all => true)",
    "ducklake_delete_orphaned_files('lake', cleanup_all => true)",
    "ducklake_flush_inlined_data('lake')",
    "ducklake_rewrite_data_files('lake')",
    "ducklake_set_option('lake', 'parquet_compression', 'zstd')",
    "ducklake_set_commit_message('lake', 'me', 'hi')",
    "lake.merge_adjacent_files()",
    "lake.set_option('parquet_compression', 'zstd')",
    "checkpoint()",
    "checkpoint('lake')",
    "force_checkpoint('lake')",
    "truncate_duckdb_logs()",
    "enable_profiling()",
    "postgres_execute('{METADATA}', 'DELETE FROM ducklake_snapshot')",
    "postgres_query('{METADATA}', 'SELECT 1')",
]


def write_statements(w: World, disguises: bool = True) -> list[str]:
    """One statement of every kind that could write, aimed at the home, a sealed release and the
    target folder; with `disguises`, each function with side effects called in ten ways."""
    files = [w.home.catalog, w.data_file, w.release / "data.parquet", w.home.root / "new.csv", w.victim]
    statements = []
    for f in files:
        statements += [
            f"COPY (SELECT 'x') TO '{f}' (FORMAT csv)",
            f"COPY prompts TO '{f}' (FORMAT parquet)",
            f"COPY (FROM prompts) TO '{f}' (FORMAT json)",
        ]
    ducklake_wheel = extension_path("ducklake")
    statements += [
        f"COPY (FROM prompts) TO '{w.target}/parts' (FORMAT parquet, PARTITION_BY (domain))",
        f"COPY prompts FROM '{w.victim}'",
        f"EXPORT DATABASE '{w.target}/export'",
        f"EXPORT DATABASE lake TO '{w.home.root}/export' (FORMAT parquet)",
        f"IMPORT DATABASE '{w.import_dir}'",
        f"PRAGMA import_database('{w.import_dir}')",
        "COPY FROM DATABASE lake TO memory",
        "COPY FROM DATABASE memory TO lake",
        f"ATTACH '{w.target}/new.duckdb' AS w",
        f"ATTACH '{w.home.catalog}' AS again",
        f"ATTACH 'ducklake:{w.target}/new.ducklake' AS w2 (DATA_PATH '{w.target}/lake-data')",
        f"ATTACH 'ducklake:{w.home.catalog}' AS rw (DATA_PATH '{w.home.data}/')",
        "ATTACH ':memory:' AS m",
        "DETACH lake",
        "INSTALL httpfs",
        "FORCE INSTALL ducklake",
        f"INSTALL '{ducklake_wheel}'",
        "LOAD httpfs",
        f"LOAD '{ducklake_wheel}'",
        f"LOAD '{w.victim}'",
        "UPDATE EXTENSIONS",
        "SET threads = 1",
        "RESET threads",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET allowed_directories = ['/']",
        f"SET temp_directory = '{w.target}'",
        f"SET extension_directory = '{w.target}'",
        f"SET secret_directory = '{w.target}'",
        f"SET profiling_output = '{w.target}/profile.json'",
        f"SET log_query_path = '{w.target}/queries.log'",
        "SET autoinstall_known_extensions = true",
        "SET search_path = 'memory'",
        "SET VARIABLE v = 1",
        "RESET VARIABLE v",
        "USE memory",
        "PRAGMA enable_profiling",
        "PRAGMA enable_profiling = 'json'",
        f"PRAGMA profiling_output = '{w.target}/profile2.json'",
        "PRAGMA force_checkpoint",
        "PRAGMA copy_database('lake', 'memory')",
        "CREATE TABLE t AS SELECT 1 AS a",
        "CREATE TABLE lake.t (a INTEGER)",
        "CREATE TEMP TABLE t AS SELECT 1 AS a",
        "CREATE VIEW v AS SELECT 1",
        "CREATE OR REPLACE VIEW prompts AS SELECT 1",
        "CREATE MACRO m() AS 1",
        "CREATE SEQUENCE s",
        "CREATE SCHEMA s",
        "CREATE TYPE e AS ENUM ('a')",
        "CREATE INDEX i ON prompts (prompt_id)",
        "CREATE SECRET (TYPE postgres, HOST 'h')",
        "CREATE PERSISTENT SECRET p (TYPE postgres, HOST 'h')",
        "INSERT INTO prompts (prompt_id) VALUES ('z')",
        "INSERT INTO prompts SELECT * FROM prompts RETURNING *",
        "UPDATE prompts SET source = 'z'",
        "DELETE FROM prompts",
        "TRUNCATE prompts",
        ("MERGE INTO prompts USING (SELECT 'z' AS prompt_id) AS s ON prompts.prompt_id = s.prompt_id "
         "WHEN NOT MATCHED THEN INSERT (prompt_id) VALUES (s.prompt_id)"),
        "DROP TABLE prompts",
        "DROP TABLE IF EXISTS nothing",
        "ALTER TABLE prompts ADD COLUMN z INTEGER",
        "ALTER TABLE prompts RENAME TO p2",
        "COMMENT ON TABLE prompts IS 'x'",
        "CHECKPOINT",
        "CHECKPOINT lake",
        "FORCE CHECKPOINT",
        "VACUUM",
        "VACUUM ANALYZE prompts",
        "ANALYZE",
        "BEGIN TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "ABORT",
        "PREPARE p AS SELECT 1",
        "EXECUTE p",
        "DEALLOCATE p",
        "WITH d AS (DELETE FROM prompts RETURNING *) SELECT * FROM d",
        "SELECT * FROM query('SELECT * FROM ducklake_cleanup_old_files(''lake'', cleanup_all => true)')",
        "SELECT * FROM query_table('prompts')",
        ("SELECT * FROM json_execute_serialized_sql(json_serialize_sql("
         "'SELECT * FROM ducklake_cleanup_old_files(''lake'', cleanup_all => true)'))"),
        f"SELECT * FROM enable_logging(storage = 'file', storage_path = '{w.target}/log')",
        f"CALL enable_logging(storage = 'file', storage_path = '{w.home.root}/log')",
        "SELECT write_log('hello', level := 'error')",
        "SELECT nextval('s')",
        f"SELECT * FROM read_duckdb('{w.target}/new.duckdb')",
        "SELECT * FROM postgres_attach('dbname=x', source_schema := 'public')",
    ]
    for call in CALLS:
        call = call.replace("{METADATA}", METADATA)
        name, args = call.split("(", 1)
        bare = name.split(".")[-1]
        statements += [
            f"CALL {call}",
            f"SELECT * FROM {call}",
        ]
        if not disguises:
            continue
        statements += [
            f"FROM {call}",
            f"WITH c AS MATERIALIZED (SELECT * FROM {call}) SELECT count(*) FROM c",
            f"SELECT * FROM prompts, LATERAL (SELECT * FROM {call}) LIMIT 1",
            f"SELECT 1 WHERE EXISTS (FROM {call})",
            f"PIVOT (SELECT *, 'k' AS k FROM {call}) ON k USING count(*)",  # generates a CREATE TYPE
            f"SELECT * FROM {name.upper()}({args}",  # names are case-insensitive
            f"SELECT * FROM {name} /* a comment */ ({args}",
            f"SELECT 'ééééééééééééééééééééééééé' AS pad, * FROM {call}",  # DuckDB counts bytes
        ]
        if "." not in name:
            statements += [
                f'SELECT * FROM "{bare.title()}"({args}',  # ... quoted ones too
                f"SELECT * FROM system.main.{call}",
            ]
    return statements


WRAPPERS = [
    "{}",
    "{};",
    "explain {}",
    "EXPLAIN ANALYZE {}",
    "EXPLAIN ANALYSE {}",
    "EXPLAIN (ANALYZE) {}",
    "EXPLAIN (ANALYZE, FORMAT json) {}",
    "/* hidden */ EXPLAIN /* x */ ANALYZE -- y\n {}",
    "EXPLAIN /* ééééééééééééééééééééé */ ANALYZE {}",
    "SELECT 1; {}",
    "{}; SELECT 1",
    "SELECT 1;\n{};\nSELECT 2",
    "WITH x AS (SELECT 1) {}",
]


def attempts(w: World) -> list[str]:
    return [wrapper.format(s) for s in write_statements(w) for wrapper in WRAPPERS]


def run_all(home, statements: list[str], allow_files: bool) -> list[str]:
    """Run each statement through the checked path of `teachable sql` (one session, reopened if a
    statement leaves it unusable); the statements that did not raise a UserError."""
    ran = []
    session = read_only_sql(home, home.binding(), allow_files=allow_files)
    try:
        for sql in statements:
            try:
                session.run(sql)
                ran.append(sql)
            except UserError as exc:
                if str(exc).startswith(("sql is read-only", "SQL error: Parser Error")):
                    continue  # refused before anything ran: the session is as it was
            try:
                session.run("SELECT count(*) FROM prompts")
            except UserError:  # e.g. an internal error invalidated the instance: start afresh
                session.close()
                session = read_only_sql(home, home.binding(), allow_files=allow_files)
    finally:
        session.close()
    return ran


# --- write attempts ------------------------------------------------------------------------
def test_the_reported_explain_analyze_copy_is_refused_and_changes_nothing(world):
    before = world.snapshot()
    with Lake(world.home, read_only=True) as lake, \
            pytest.raises(UserError, match="read-only: EXPLAIN of COPY statements is not allowed"):
        run_read_only(lake, f"explain analyze copy (select 'x') to '{world.home.catalog}' (format csv)")
    assert world.snapshot() == before


@pytest.mark.parametrize("allow_files", [True, False], ids=["files", "no-files"])
def test_generated_writes_all_fail_and_change_no_byte(world, allow_files):
    statements = attempts(world) if allow_files else write_statements(world)
    assert len(statements) > 500 or not allow_files
    before = world.snapshot()
    assert run_all(world.home, statements, allow_files) == []
    assert world.snapshot() == before
    assert not any(world.scratch.iterdir()), "each session removes its scratch folder"
    assert not (world.user_home / ".duckdb" / "stored_secrets").exists()


def test_cli_path_refuses_one_of_each_kind(world):
    """`teachable sql` opens a read-only Lake and calls run_read_only: the same refusals there."""
    kinds = {
        "COPY": f"COPY (SELECT 1) TO '{world.victim}'", "EXPORT": f"EXPORT DATABASE '{world.target}/e'",
        "ATTACH": f"ATTACH '{world.target}/a.duckdb'", "INSTALL/LOAD": "INSTALL httpfs",
        "SET/RESET/USE": "RESET threads", "CALL": "CALL ducklake_merge_adjacent_files('lake')",
        "CREATE": "CREATE TABLE t (a INT)", "DELETE": "DELETE FROM prompts", "DROP": "DROP TABLE prompts",
        "ducklake_cleanup_old_files()": "FROM ducklake_cleanup_old_files('lake', cleanup_all => true)",
        "enable_logging()": f"FROM enable_logging(storage = 'file', storage_path = '{world.target}')",
        "EXPLAIN of INSERT": "EXPLAIN ANALYZE INSERT INTO prompts (prompt_id) VALUES ('z')",
    }
    before = world.snapshot()
    with Lake(world.home, read_only=True) as lake:
        for kind, sql in kinds.items():
            with pytest.raises(UserError, match=f"^sql is read-only: {re.escape(kind)}.* not allowed$") as refused:
                run_read_only(lake, f"SELECT 1; {sql}")
            assert "\n" not in str(refused.value)
    assert world.snapshot() == before


# The first fence alone (the locked connection, checks skipped) with local files off: no write
# lands outside the lake's data folder. That folder must stay readable, and DuckLake writes into
# it even on a READ_ONLY catalog (CHECKPOINT and ducklake_flush_inlined_data leave Parquet files,
# CREATE TABLE a folder, the cleanup functions delete files): keeping it intact is the statement
# and function checks' job, which the tests above cover. enable_logging(storage = 'file') is left
# out: its file is refused, but DuckDB 1.5.5 then aborts the process when the connection closes;
# so are the checkpoints, slow and writing only into the data folder.
def test_locked_connection_alone_writes_nothing_outside_the_data_folder(world):
    statements = [s for s in write_statements(world, disguises=False)
                  if "enable_logging" not in s and "checkpoint" not in s.lower()]
    data = f"{world.home.data}/"

    def outside_data() -> dict[str, str]:
        return {path: digest for path, digest in world.snapshot().items() if not path.startswith(data)}

    before = outside_data()
    session = read_only_sql(world.home, world.home.binding(), allow_files=False)
    try:
        for sql in statements:
            try:
                for statement in session.con.extract_statements(sql):
                    session.con.execute(statement).fetchall()
            except duckdb.Error:
                pass
            try:
                session.con.execute("SELECT count(*) FROM prompts").fetchall()
            except duckdb.Error:
                session.close()
                session = read_only_sql(world.home, world.home.binding(), allow_files=False)
        with pytest.raises(duckdb.Error, match="locked"):
            session.con.execute("SET enable_external_access = true")
        assert not (session.scratch / "extensions").exists(), "nothing installed"
    finally:
        session.close()
    assert outside_data() == before


# --- reads still work ----------------------------------------------------------------------
def test_reads_work(world):
    local = world.local_parquet
    with Lake(world.home, read_only=True) as lake:
        assert run_read_only(lake, "SELECT count(*) AS n FROM prompts").to_pylist() == [{"n": 203}]
        assert run_read_only(lake, f"SELECT sum(a) AS s FROM read_parquet('{local}')").to_pylist() == [{"s": 6}]
    with read_only_sql(world.home, world.home.binding()) as session:  # what run_read_only runs, kept open
        def rows(sql: str) -> list[dict]:
            return session.run(sql).to_pylist()

        assert rows("FROM prompts SELECT count(*) AS n WHERE prompt_id IN ('a', 'b')") == [{"n": 2}]
        assert rows("WITH m AS (SELECT * FROM prompts WHERE domain = 'math') SELECT count(*) AS n FROM m") \
            == [{"n": 102}]
        assert rows("PIVOT (SELECT domain FROM prompts) ON domain USING count(*)") == [{"code": 101, "math": 102}]
        assert rows("PIVOT (SELECT domain FROM prompts) ON domain IN ('math') USING count(*)") == [{"math": 102}]
        assert len(rows("UNPIVOT (SELECT prompt_id, source FROM prompts) ON source INTO NAME k VALUE v")) == 203
        assert [r["column_name"] for r in rows("DESCRIBE prompts")][:2] == ["prompt_id", "source"]
        assert len(rows("SUMMARIZE prompts")) == len(rows("DESCRIBE prompts"))
        assert {"name": "prompts"} in rows("SHOW TABLES")
        assert rows("PRAGMA table_info('prompts')")[0]["name"] == "prompt_id"
        assert rows("SELECT count(*) AS n FROM ducklake_snapshots('lake')")[0]["n"] > 1
        assert rows("SELECT count(*) > 0 AS ok FROM lake.snapshots()") == [{"ok": True}]
        assert rows("EXPLAIN SELECT * FROM prompts")[0]["explain_key"] == "physical_plan"
        assert rows("EXPLAIN ANALYZE SELECT count(*) FROM prompts")[0]["explain_key"] == "analyzed_plan"
        assert rows("VALUES (1), (2)") == [{"col0": 1}, {"col0": 2}]
        assert rows("SELECT 1 AS a; SELECT 2 AS b") == [{"b": 2}]
        assert rows(f"SELECT sum(a) AS s FROM read_parquet('{local}')") == [{"s": 6}]
        assert rows(f"SELECT count(*) AS n FROM '{local}'") == [{"n": 3}]
        assert rows(f"SELECT count(*) AS n FROM read_csv('{world.victim}')") == [{"n": 1}]
        assert rows(f"SELECT count(*) AS n FROM '{world.release}/data.parquet'") == [{"n": 2}]
        with pytest.raises(UserError, match="^no SQL statement given$"):
            session.run(" -- nothing\n")
        with pytest.raises(UserError, match="^SQL error: Parser Error"):
            session.run("SELEC 1")


def test_files_off_refuses_local_files_but_reads_the_lake(world):
    with Lake(world.home, read_only=True) as lake:
        assert run_read_only(lake, "SELECT count(*) AS n FROM prompts", allow_files=False).to_pylist() == [{"n": 203}]
        for sql in (f"SELECT * FROM read_parquet('{world.local_parquet}')", f"FROM '{world.victim}'",
                    f"SELECT * FROM read_parquet('{world.release}/data.parquet')", "SELECT * FROM glob('/*')"):
            with pytest.raises(UserError, match="reading local files is turned off"):
                run_read_only(lake, sql, allow_files=False)


# --- the same on a PostgreSQL catalog ------------------------------------------------------
def catalog_digest(postgres, database: str) -> dict[str, str]:
    tables = postgres.psql("SELECT string_agg(tablename, ' ') FROM pg_tables WHERE schemaname = 'public'",
                           database).split()
    return {t: postgres.psql(f"SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM {t} x",
                             database) for t in tables}


def test_postgres_catalog_writes_fail_and_change_nothing(home, tmp_path, pg_catalog, postgres, monkeypatch):
    fill(home, warehouse=pg_catalog)
    w = World(home, tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(w.scratch))
    database = pg_catalog.conninfo.split("dbname=")[1].split()[0]
    catalog_before, files_before = catalog_digest(postgres, database), w.snapshot()
    statements = [s for s in write_statements(w) if "ducklake" in s.lower() or "postgres" in s.lower()
                  or s.split()[0] in ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "MERGE", "DROP", "ALTER", "CREATE")]
    statements += [f"EXPLAIN ANALYZE {s}" for s in statements] + [
        (f"SELECT * FROM postgres_query('{METADATA}', 'WITH d AS (DELETE FROM ducklake_snapshot RETURNING *) "
         "SELECT count(*) FROM d')"),
    ]
    assert run_all(home, statements, allow_files=True) == []
    with Lake(home, read_only=True) as lake:
        assert run_read_only(lake, "SELECT count(*) AS n FROM prompts").to_pylist() == [{"n": 203}]
        with pytest.raises(UserError, match="read-only: postgres_execute"):
            run_read_only(lake, f"SELECT * FROM postgres_execute('{METADATA}', 'DELETE FROM ducklake_snapshot')")
    assert catalog_digest(postgres, database) == catalog_before
    assert w.snapshot() == files_before
