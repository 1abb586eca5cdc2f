import subprocess
import sys

import pyarrow as pa
import pytest

from schemas.errors import UserError, WarehouseBusyError
from schemas.records import Prompt
from schemas.tables import TABLES
from warehouse.lake import Lake, run_read_only


def _prompt_rows(ids):
    import datetime as dt

    at = dt.datetime.now(dt.UTC)
    return pa.table({
        "prompt_id": ids, "source": ["s"] * len(ids), "source_file": ["f"] * len(ids),
        "source_id": [str(i) for i in range(len(ids))], "problem": ["p"] * len(ids),
        "domain": ["math"] * len(ids), "text_hash": ids, "run_id": ["r"] * len(ids),
        "ingested_at": [at] * len(ids), "answer": [None] * len(ids), "answer_raw": [None] * len(ids),
        "extra": [None] * len(ids),
    })


def test_open_creates_every_table(lake):
    for model in TABLES:
        assert lake.columns(model.__table__) == list(model.model_fields)


def test_insert_new_is_idempotent_and_one_snapshot_per_transaction(lake):
    before = lake.current_snapshot()
    with lake.transaction():
        assert lake.insert_new(Prompt, _prompt_rows(["a", "b"])) == 2
        assert lake.insert_new(Prompt, _prompt_rows(["b", "c"])) == 1
    assert lake.current_snapshot() == before + 1
    with lake.transaction():
        assert lake.insert_new(Prompt, _prompt_rows(["a", "b", "c"])) == 0
    assert lake.count("prompts") == 3


def test_failed_transaction_leaves_no_rows(lake):
    with pytest.raises(RuntimeError):
        with lake.transaction():
            lake.insert_new(Prompt, _prompt_rows(["x"]))
            raise RuntimeError("crash mid-write")
    assert lake.count("prompts") == 0


def test_migration_adds_missing_columns(home):
    with Lake(home) as lake:
        with lake.transaction():
            lake.con.execute("ALTER TABLE lake.prompts DROP COLUMN extra")
        assert "extra" not in lake.columns("prompts")
    with Lake(home) as lake:
        assert lake.columns("prompts")[-1] == "extra"
        assert lake.migrate() == []


def test_read_only_rejects_writes_and_missing_home(home, tmp_path):
    with pytest.raises(UserError, match="no warehouse"):
        Lake(type(home).resolve(tmp_path / "nowhere"), read_only=True)
    Lake(home).close()
    with Lake(home, read_only=True) as lake:
        assert run_read_only(lake, "SELECT count(*) AS n FROM prompts").to_pylist() == [{"n": 0}]
        for statement in ("DELETE FROM prompts", "CREATE TABLE t(a INT)", "SELECT 1; DROP TABLE prompts"):
            with pytest.raises(UserError, match="read-only"):
                run_read_only(lake, statement)
        with pytest.raises(UserError, match="SQL error"):
            run_read_only(lake, "SELEC nonsense")


def test_second_writer_gets_a_clear_busy_error(home):
    Lake(home).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from warehouse.home import Home; from warehouse.lake import Lake;"
         f"l=Lake(Home.resolve({str(home.root)!r})); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusyError, match="in use"):
            Lake(home)
    finally:
        holder.kill()
        holder.wait()


def test_every_table_model_has_storable_types_and_keys():
    from schemas.arrow import arrow_schema

    for model in TABLES:
        schema = arrow_schema(model)
        assert set(model.__key__) <= set(schema.names), model.__name__
        assert all(not schema.field(k).nullable for k in model.__key__), model.__name__
