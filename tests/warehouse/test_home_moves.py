"""A home copied or moved as a whole keeps working, on its own data; a damaged catalog is one
line that says how to recover."""

import datetime as dt
import os
import shutil
import subprocess

import duckdb
import pyarrow as pa
import pytest

from schemas.errors import UserError
from schemas.records import Prompt
from tests.support.cli import run_cli
from warehouse.home import Home
from warehouse.lake import Lake, duckdb_lines

ROWS = 100  # more than DuckLake inlines into the catalog: the rows go to Parquet files under data/


def prompts(prefix: str, n: int = ROWS) -> pa.Table:
    ids = [f"{prefix}{i}" for i in range(n)]
    at = dt.datetime.now(dt.UTC)
    return pa.table({
        "prompt_id": ids, "source": ["s"] * n, "source_file": ["f"] * n, "source_id": ids,
        "problem": ["p"] * n, "domain": ["math"] * n, "text_hash": ids, "run_id": ["r"] * n,
        "ingested_at": [at] * n, "answer": [None] * n, "answer_raw": [None] * n, "extra": [None] * n,
    })


def write(home: Home, prefix: str) -> None:
    with Lake(home) as lake:
        with lake.transaction():
            assert lake.insert_new(Prompt, prompts(prefix)) == ROWS


def ids(home: Home, read_only: bool = True) -> set[str]:
    with Lake(home, read_only=read_only) as lake:
        return set(lake.query("SELECT prompt_id FROM prompts").column(0).to_pylist())


def data_files(home: Home) -> set[str]:
    return {str(p.relative_to(home.data)) for p in home.data.rglob("*.parquet")}


@pytest.fixture
def made(tmp_path) -> Home:
    home = Home.resolve(tmp_path / "original")
    write(home, "a")
    assert data_files(home), "the rows should be in Parquet files, not inlined"
    return home


def test_copied_home_writes_to_its_own_data(made, tmp_path):
    original_files = data_files(made)
    subprocess.run(["cp", "-a", str(made.root), str(tmp_path / "copy")], check=True)
    copy = Home.resolve(tmp_path / "copy")
    write(copy, "b")
    both = {f"a{i}" for i in range(ROWS)} | {f"b{i}" for i in range(ROWS)}
    assert ids(copy) == ids(copy, read_only=False) == both
    assert ids(made) == {f"a{i}" for i in range(ROWS)}
    assert data_files(made) == original_files  # nothing written into the original's data/
    assert data_files(copy) > original_files
    write(made, "c")  # the original is still writable, and the copy does not see it
    assert len(ids(made)) == 2 * ROWS and not any(i.startswith("c") for i in ids(copy))


def test_copy_reads_only_its_own_files(made, tmp_path):
    shutil.copytree(made.root, tmp_path / "copy", symlinks=True)
    copy = Home.resolve(tmp_path / "copy")
    shutil.rmtree(made.data)  # had the copy read through the original's data path, this would show
    assert ids(copy) == {f"a{i}" for i in range(ROWS)}


def test_moved_home(made, tmp_path):
    moved = Home.resolve(tmp_path / "elsewhere" / "moved")
    moved.root.parent.mkdir()
    made.root.rename(moved.root)
    assert ids(moved) == {f"a{i}" for i in range(ROWS)}
    write(moved, "b")
    assert len(ids(moved)) == 2 * ROWS


def test_plain_duckdb_lines_open_a_moved_home(made, tmp_path):
    moved = Home.resolve(tmp_path / "moved")
    made.root.rename(moved.root)
    lines = duckdb_lines(moved)
    assert f"DATA_PATH '{moved.data}/'" in lines[2] and "OVERRIDE_DATA_PATH true" in lines[2]
    namespace: dict = {}
    exec("\n".join(lines[:3]), namespace)  # what `teachable status` tells a user to run
    con = namespace["con"]
    assert con.sql("SELECT count(*) FROM prompts").fetchone() == (ROWS,)
    files = con.sql("SELECT data_file FROM ducklake_list_files('lake', 'prompts')").fetchall()
    assert files and all(f.startswith(f"{moved.data}/") for (f,) in files)
    con.close()


def _truncate_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _truncate_last_block(data: bytes) -> bytes:
    return data[:-4096]  # opens fine; only a query reaching the lost block would fail


def _garbage(data: bytes) -> bytes:
    return os.urandom(len(data))


def _header_flipped(data: bytes) -> bytes:
    return data[:4096] + bytes(b ^ 0xFF for b in data[4096:4160]) + data[4160:]


def _emptied(data: bytes) -> bytes:
    return b""


@pytest.mark.parametrize("damage", [_truncate_half, _truncate_last_block, _garbage, _header_flipped,
                                    _emptied])
@pytest.mark.parametrize("read_only", [True, False], ids=["reader", "writer"])
def test_damaged_catalog_is_one_line_saying_how_to_recover(made, damage, read_only):
    made.catalog.write_bytes(damage(made.catalog.read_bytes()))
    with pytest.raises(UserError) as caught:
        Lake(made, read_only=read_only)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"the warehouse catalog {made.catalog} cannot be read (")
    assert "restore catalog.ducklake from a backup or an intact copy of this home" in message


def test_duckdb_file_that_holds_no_lake(made):
    made.catalog.unlink()
    duckdb.connect(str(made.catalog)).close()
    with pytest.raises(UserError, match="not a teachable catalog"):
        Lake(made, read_only=True)


def test_missing_catalog_is_refused_not_recreated(made):
    made.catalog.unlink()
    for read_only in (True, False):
        with pytest.raises(UserError, match=r"catalog\.ducklake is missing: restore"):
            Lake(made, read_only=read_only)
    assert not made.catalog.exists()


def test_cli_on_a_damaged_and_on_a_moved_home(made, tmp_path):
    moved = tmp_path / "moved"
    made.root.rename(moved)
    status = run_cli(None, "--home", str(moved), "status", cwd=tmp_path, timeout=120)
    assert status.returncode == 0, status.stderr[-2000:]
    assert str(ROWS) in status.stdout and "OVERRIDE_DATA_PATH true" in status.stdout
    catalog = moved / "catalog.ducklake"
    catalog.write_bytes(catalog.read_bytes()[:8192])
    proc = run_cli(None, "--home", str(moved), "status", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "restore catalog.ducklake" in proc.stderr
