"""The DuckLake catalog in a real PostgreSQL server (session fixture, loopback): the home's
binding, Lake's contract (one transaction = one snapshot, idempotent inserts, no partial rows),
several writers at once, ingest through the real CLI, and passwords kept out of everything."""

import datetime as dt
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from schemas.errors import UserError
from schemas.records import Prompt
from schemas.tables import TABLES
from schemas.warehouse import WarehouseSettings
from tests.support.cli import run_cli
from tests.support.postgres import PASSWORD, PASSWORD_ROLE
from warehouse.home import Home
from warehouse.lake import Lake, load_extension, run_read_only

REPO = Path(__file__).resolve().parents[2]


def prompt_rows(ids: list[str]) -> pa.Table:
    at = dt.datetime.now(dt.UTC)
    n = len(ids)
    return pa.table({
        "prompt_id": ids, "source": ["s"] * n, "source_file": ["f"] * n, "source_id": ids,
        "problem": ["p"] * n, "domain": ["math"] * n, "text_hash": ids, "run_id": ["r"] * n,
        "ingested_at": [at] * n, "answer": [None] * n, "answer_raw": [None] * n, "extra": [None] * n,
    })


def database(catalog: WarehouseSettings) -> str:
    return catalog.conninfo.split("dbname=")[1].split()[0]


def plain_duckdb(catalog: WarehouseSettings) -> duckdb.DuckDBPyConnection:
    """A second connection, as a user opens it: plain DuckDB, the catalog read-only."""
    con = duckdb.connect()
    load_extension(con, "ducklake")
    load_extension(con, "postgres")
    con.execute(f"ATTACH 'ducklake:{catalog.catalog}' AS lake (READ_ONLY); USE lake")
    return con


@pytest.fixture
def pg_lake(home, pg_catalog):
    with Lake(home, warehouse=pg_catalog) as lake:
        yield lake


# --- the catalog really is in PostgreSQL ---------------------------------------------------
def test_tables_and_snapshots_live_in_postgres(pg_lake, home, pg_catalog, postgres):
    for model in TABLES:
        assert pg_lake.columns(model.__table__) == list(model.model_fields)
    db = database(pg_catalog)
    in_pg = postgres.psql("SELECT table_name FROM ducklake_table WHERE end_snapshot IS NULL", db).split()
    assert sorted(in_pg) == sorted(m.__table__ for m in TABLES)
    assert int(postgres.psql("SELECT max(snapshot_id) FROM ducklake_snapshot", db)) == pg_lake.current_snapshot()
    assert not home.catalog.exists()  # no DuckDB catalog file beside it
    assert json.loads(home.binding_file.read_text())["catalog"] == pg_catalog.catalog


def test_insert_new_is_idempotent_and_one_transaction_is_one_snapshot(pg_lake, pg_catalog, postgres):
    before = pg_lake.current_snapshot()
    with pg_lake.transaction():
        assert pg_lake.insert_new(Prompt, prompt_rows(["a", "b"])) == 2
        assert pg_lake.insert_new(Prompt, prompt_rows(["b", "c"])) == 1
    assert pg_lake.current_snapshot() == before + 1
    with pg_lake.transaction():
        assert pg_lake.insert_new(Prompt, prompt_rows(["a", "b", "c"])) == 0
    assert pg_lake.count("prompts") == 3
    snapshots = postgres.psql("SELECT snapshot_id FROM ducklake_snapshot ORDER BY 1", database(pg_catalog)).split()
    assert [int(s) for s in snapshots][-1] == before + 1  # the no-op transaction made no snapshot


def test_failed_transaction_leaves_no_rows(pg_lake):
    with pytest.raises(RuntimeError):
        with pg_lake.transaction():
            pg_lake.insert_new(Prompt, prompt_rows(["x"]))
            raise RuntimeError("crash mid-write")
    assert pg_lake.count("prompts") == 0


@pytest.mark.timeout(180)
def test_killed_writer_leaves_no_rows_and_frees_the_writer_lock(pg_lake, home):
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from warehouse.home import Home; from warehouse.lake import Lake;"
         "from schemas.records import Prompt; from tests.warehouse.test_postgres_catalog import prompt_rows;"
         f"lake = Lake(Home.resolve({str(home.root)!r}));"
         "tx = lake.transaction(); tx.__enter__();"
         "lake.insert_new(Prompt, prompt_rows([str(i) for i in range(20000)]));"
         "print('inserted', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        assert writer.stdout.readline().strip() == "inserted"
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    assert pg_lake.count("prompts") == 0
    with pg_lake.transaction():  # PostgreSQL dropped the dead writer's lock with its session
        assert pg_lake.insert_new(Prompt, prompt_rows(["after"])) == 1
    assert pg_lake.count("prompts") == 1


# --- several connections -------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_several_writers_and_readers_at_once_keep_inserts_exact(pg_lake, home):
    second = Lake(home)  # a DuckDB file catalog would refuse this one (WarehouseBusyError)
    reader = Lake(home, read_only=True)
    results: dict[str, int] = {}
    try:
        with pg_lake.transaction():
            pg_lake.insert_new(Prompt, prompt_rows(["k1"]))

            def write_overlapping() -> None:
                with second.transaction():
                    results["second"] = second.insert_new(Prompt, prompt_rows(["k1", "k2"]))

            thread = threading.Thread(target=write_overlapping)
            thread.start()
            thread.join(timeout=2)
            assert thread.is_alive()  # queued behind our transaction, not racing it
            assert reader.count("prompts") == 0  # readers never wait
        thread.join(timeout=60)
        assert results == {"second": 1}  # it saw k1 committed: only k2 was new
        assert reader.query("SELECT prompt_id FROM prompts ORDER BY 1").column(0).to_pylist() == ["k1", "k2"]
    finally:
        second.close()
        reader.close()


# --- the binding ---------------------------------------------------------------------------
def test_binding_persists_for_every_later_open(home, pg_catalog, monkeypatch):
    Lake(home, warehouse=pg_catalog).close()
    with Lake(home) as lake:  # no flag, no env: the home remembers
        assert lake.binding.catalog == pg_catalog.catalog
        with lake.transaction():
            lake.insert_new(Prompt, prompt_rows(["a"]))
    with Lake(home, read_only=True) as lake:
        assert run_read_only(lake, "SELECT count(*) AS n FROM prompts").to_pylist() == [{"n": 1}]
    reordered = " ".join(reversed(pg_catalog.conninfo.split()))
    monkeypatch.setenv("TEACHABLE_CATALOG", f"postgres:{reordered}")  # same catalog, other spelling
    Lake(home).close()
    assert not home.catalog.exists()


def test_env_var_binds_a_new_home(tmp_path, pg_catalog, monkeypatch):
    monkeypatch.setenv("TEACHABLE_CATALOG", pg_catalog.catalog)
    home = Home.resolve(tmp_path / "env-home")
    Lake(home).close()
    monkeypatch.delenv("TEACHABLE_CATALOG")
    assert home.binding().catalog == pg_catalog.catalog


def test_conflicting_bindings_are_clear_errors(home, tmp_path, pg_catalog, postgres, monkeypatch):
    Lake(home, warehouse=pg_catalog).close()
    other = WarehouseSettings(catalog="postgres:" + postgres.conninfo("postgres"))
    asks_other = r"is bound to postgres:dbname=catalog_\d+ .* but the config's warehouse section asks for postgres:dbname=postgres"
    with pytest.raises(UserError, match=asks_other):
        Lake(home, warehouse=other)
    monkeypatch.setenv("TEACHABLE_CATALOG", "duckdb")
    with pytest.raises(UserError, match=r"but \$TEACHABLE_CATALOG asks for the DuckDB file"):
        Lake(home, read_only=True)
    monkeypatch.delenv("TEACHABLE_CATALOG")
    file_home = Home.resolve(tmp_path / "file-home")
    Lake(file_home).close()  # a DuckDB-file home stays one
    with pytest.raises(UserError, match="is bound to the DuckDB file"):
        Lake(file_home, warehouse=pg_catalog)
    moved = WarehouseSettings(catalog=pg_catalog.catalog, data_path=str(tmp_path / "elsewhere"))
    with pytest.raises(UserError, match="is bound to .* but the config's warehouse section asks for"):
        Lake(home, warehouse=moved)


def test_config_conflict_through_the_cli_is_one_line(home, tmp_path, pg_catalog):
    from typer.testing import CliRunner

    from flows.cli.app import app

    Lake(home).close()  # bound to the DuckDB file
    config = tmp_path / "pg.yaml"
    config.write_text(pipeline_yaml(pg_catalog.catalog, n=5))
    result = CliRunner().invoke(app, ["--home", str(home.root), "run", str(config), "--stages", "ingest"])
    assert result.exit_code == 2
    assert "is bound to the DuckDB file" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_second_home_on_the_same_catalog_needs_its_data_path(home, tmp_path, pg_catalog):
    Lake(home, warehouse=pg_catalog).close()
    with pytest.raises(UserError, match="keeps its data in another folder.*warehouse.data_path"):
        Lake(Home.resolve(tmp_path / "second"), warehouse=pg_catalog)
    shared = WarehouseSettings(catalog=pg_catalog.catalog, data_path=str(home.data))
    with Lake(Home.resolve(tmp_path / "second"), warehouse=shared) as lake:
        with lake.transaction():
            lake.insert_new(Prompt, prompt_rows([str(i) for i in range(5000)]))  # past inlining: Parquet
    assert list(home.data.rglob("*.parquet"))


def test_unreachable_catalog_is_one_clear_error_and_not_bound(tmp_path, postgres):
    home = Home.resolve(tmp_path / "typo")
    missing = WarehouseSettings(catalog="postgres:" + postgres.conninfo("no_such_db"))
    with pytest.raises(UserError, match='cannot open the PostgreSQL catalog .*database "no_such_db" does not exist'):
        Lake(home, warehouse=missing)
    assert not home.binding_file.exists()  # fixing the typo is not a conflict
    empty = WarehouseSettings(catalog="postgres:" + postgres.conninfo(postgres.create_database("never_written")))
    with pytest.raises(UserError, match="no warehouse in the PostgreSQL catalog"):
        Lake(Home.resolve(tmp_path / "reader"), read_only=True, warehouse=empty)


# --- secrets -------------------------------------------------------------------------------
def test_password_goes_through_pgpassword_and_is_stored_nowhere(tmp_path, postgres, monkeypatch):
    db = postgres.create_database("pw_catalog", owner=PASSWORD_ROLE)
    catalog = WarehouseSettings(catalog="postgres:" + postgres.conninfo(db, user=PASSWORD_ROLE))
    home = Home.resolve(tmp_path / "pw-home")
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    with pytest.raises(UserError, match="cannot open the PostgreSQL catalog .*password") as refused:
        Lake(home, warehouse=catalog)
    assert PASSWORD not in str(refused.value)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with Lake(home, warehouse=catalog) as lake:
        with lake.transaction():
            lake.insert_new(Prompt, prompt_rows(["a"]))
    stored = [p for p in home.root.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert stored == []


@pytest.mark.parametrize("catalog", [
    f"postgres:dbname=x host=127.0.0.1 password={PASSWORD}",
    f"postgres:dbname=x password = '{PASSWORD} x'",
    f"postgresql://u:{PASSWORD}@127.0.0.1/x",
    f"postgres:postgresql://u@127.0.0.1/x?password={PASSWORD}",
])
def test_password_in_the_catalog_string_is_refused(home, tmp_path, catalog, monkeypatch):
    monkeypatch.setenv("TEACHABLE_CATALOG", catalog)
    with pytest.raises(UserError, match="PGPASSWORD") as refused:
        Lake(home)
    assert PASSWORD not in str(refused.value)
    monkeypatch.delenv("TEACHABLE_CATALOG")
    config = tmp_path / "pw.yaml"
    config.write_text(pipeline_yaml(catalog, n=5))
    proc = run_cli(None, "--home", str(home.root), "run", str(config), cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "pw.yaml:8: warehouse.catalog:" in proc.stderr and "PGPASSWORD" in proc.stderr
    assert PASSWORD not in proc.stderr + proc.stdout
    assert not home.binding_file.exists()


# --- the real CLI and flow ----------------------------------------------------------------
def pipeline_yaml(catalog: str, n: int) -> str:
    return (
        "name: pg\n"
        "sources:\n"
        "  - name: procedural\n"
        f"    paths: ['procedural://?n={n}&seed=5']\n"
        "ingest:\n"
        "  batch_size: 500\n"
        "warehouse:\n"
        f"  catalog: \"{catalog}\"\n"
    )


def test_cli_ingest_lands_rows_in_the_postgres_catalog(teachable_cli, home, tmp_path, pg_catalog, postgres):
    config = tmp_path / "pg.yaml"
    config.write_text(pipeline_yaml(pg_catalog.catalog, n=1200))
    teachable_cli("--home", str(home.root), "run", str(config), "--stages", "ingest")
    second = plain_duckdb(pg_catalog)  # another connection, plain DuckDB, no teachable involved
    assert second.sql("SELECT count(*) FROM prompts WHERE source = 'procedural'").fetchone()[0] == 1200
    run_snapshot = second.sql("SELECT snapshot_id FROM runs WHERE stage = 'ingest'").fetchone()[0]
    in_pg = postgres.psql(f"SELECT count(*) FROM ducklake_snapshot WHERE snapshot_id = {run_snapshot}", database(pg_catalog))
    assert in_pg == "1"
    second.close()
    # Later commands need no flag: the home is bound; status and sql read the PostgreSQL catalog.
    count = teachable_cli("--home", str(home.root), "sql", "SELECT count(*) AS n FROM prompts", "--format", "json")
    assert json.loads(count.stdout) == [{"n": 1200}]
    status = " ".join(teachable_cli("--home", str(home.root), "status").stdout.split())
    assert "1200" in status and f"ATTACH 'ducklake:{pg_catalog.catalog}' AS lake (READ_ONLY)" in status
    assert "LOAD postgres" in status and not home.catalog.exists()
