"""Ingest with worker processes (large JSON lines files) and batch-at-once mapping.

The rows must be exactly those of the single-process path: same prompts, ids, hashes,
quarantine entries and counts, whatever the chunk sizes; writes hold exactly `batch_size`
records; worker processes die with the ingest; written rows do not stay in memory.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.arrow import arrow_schema
from schemas.config import IngestSettings, SourceSettings
from schemas.records import Prompt
from tasks.ingest import stage, store
from tasks.ingest.fields import prompt_id, prompt_ids, text_hashes
from tasks.ingest.mapping import RecordMapper
from tasks.ingest.rows import Mapped, map_items
from tasks.readers import files
from tasks.text import normalize_text, text_hash
from warehouse.home import Home
from warehouse.lake import Lake

BIG = 123456789012345678901234567890


def _lines() -> list[bytes]:
    """Good records of every kind, damaged lines, ids repeated far apart, odd whitespace."""
    lines = []
    for i in range(300):
        kind = i % 15
        record: dict = {"uid": f"u{i % 170}", "problem": f"Problem\u00a0{i}:  find ｘ\n\tif x = {i}"}
        if kind == 1:
            record = {"uid": f"v{i}", "question": f"Q {i}", "answer": f"so <<{i}>>\n#### {i},000"}
        elif kind == 2:
            record["answer"] = BIG
            record["meta"] = {"n": [BIG, 2.0, None]}
        elif kind == 3:
            record["choices"] = ["a", "b", "c"]
            record["answer"] = "b" if i % 2 else "zz"
        elif kind == 4:
            record = {"uid": f"w{i}", "problem": "", "answer": 1}
        elif kind == 5:
            record["entry_point"] = "f"
            record["test"] = "def check(c):\n    assert c(1) == 1\n"
        elif kind == 6:
            record["problem"] = "x" * 500
        lines.append(json.dumps(record, ensure_ascii=i % 2 == 0).encode())
        if kind == 7:
            lines.append(b'{"problem": "broken')
        elif kind == 8:
            lines.append(b"")
        elif kind == 9:
            lines.append(b'{"problem": "bad \xff bytes"}')
        elif kind == 10:
            lines.append(b"[1, 2]")
        elif kind == 11:
            lines.append(b'{"problem": "deep", "m": ' + b"[" * 300 + b"]" * 300 + b"}")
    return lines


def _write_pool(path, crlf: bool = False, bom: bool = False, trailing_newline: bool = True):
    sep = b"\r\n" if crlf else b"\n"
    data = sep.join(_lines()) + (sep if trailing_newline else b"")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def _force_workers(monkeypatch, chunk_bytes: int) -> None:
    monkeypatch.setattr(stage, "worker_count", lambda size: 2)
    monkeypatch.setattr(stage, "CHUNK_BYTES", chunk_bytes)


def _ingest_all(home_dir, paths, **fields):
    settings = IngestSettings(max_problem_chars=300, batch_size=37)
    with Lake(Home.resolve(home_dir)) as lake:
        totals = []
        for options in ({}, {"id_field": "uid"}):
            source = SourceSettings(name=f"s{len(totals)}", paths=[str(p) for p in paths], **options, **fields)
            totals.append(stage.ingest_source(lake, source, settings, f"run-{uuid.uuid4().hex[:6]}").totals())
        prompts = lake.query("SELECT * EXCLUDE (ingested_at, run_id) FROM prompts ORDER BY prompt_id").to_pylist()
        quarantine = lake.query(
            "SELECT * EXCLUDE (quarantined_at, run_id) FROM quarantine ORDER BY quarantine_id").to_pylist()
    return totals, prompts, quarantine


@pytest.mark.parametrize("block", [61, 4096])
def test_workers_store_exactly_what_one_process_stores(tmp_path, monkeypatch, block):
    pools = [_write_pool(tmp_path / "plain.jsonl"),
             _write_pool(tmp_path / "crlf.jsonl", crlf=True, bom=True, trailing_newline=False)]
    alone = _ingest_all(tmp_path / "alone", pools)
    _force_workers(monkeypatch, block)
    together = _ingest_all(tmp_path / "workers", pools)
    assert together == alone
    totals, prompts, _ = together
    assert totals[1]["quarantine_reasons"]["duplicate_id"] > 0  # ids repeated across chunks were caught
    assert {"malformed_json", "invalid_utf8", "not_an_object", "too_deep", "bad_answer"} <= set(
        totals[0]["quarantine_reasons"])
    assert any(json.loads(p["extra"] or "{}").get("meta") == {"n": [BIG, 2.0, None]} for p in prompts)


def test_reader_items_do_not_depend_on_block_size(tmp_path, monkeypatch):
    path = _write_pool(tmp_path / "p.jsonl", crlf=True, bom=True, trailing_newline=False)

    def items(block):
        monkeypatch.setattr(files, "BLOCK", block)
        reader = files.FileReader(path)
        try:
            return list(files.read_jsonl(reader)), reader.sha256()
        finally:
            reader.close()

    whole = items(1 << 20)
    assert len(whole[0]) > 300
    for block in (3, 4, 50, 4096):  # a read shorter than the BOM would not see it (as ever)
        assert items(block) == whole


_whitespace = st.sampled_from(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u202f\u3000")
_texts = st.lists(st.one_of(st.text(min_size=1), _whitespace, st.sampled_from(["ｘ²", "ﬁ", "e\u0301", "a", "\\frac"])),
                  max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_texts, max_size=8), source_ids=st.lists(st.text(), min_size=8, max_size=8))
def test_many_at_once_hashes_equal_one_by_one(texts, source_ids):
    hashes = text_hashes(texts)
    assert hashes == [text_hash(normalize_text(t)) for t in texts]
    ids = source_ids[: len(texts)]
    assert prompt_ids("src", "f.jsonl", ids, hashes) == [prompt_id("src", "f.jsonl", i, h) for i, h in zip(ids, hashes)]


def test_a_run_splits_at_record_positions():
    items = [(str(i), {"problem": f"p{i}"} if i % 3 else {"nothing": i}) for i in range(10)]
    mapped = map_items(items, RecordMapper("s", "f"), "line")
    assert (mapped.read, mapped.prompts.num_rows, mapped.quarantine.num_rows) == (10, 6, 4)
    head, rest = mapped.split(4)
    assert head.prompts.column("source_id").to_pylist() == ["1", "2"]
    assert head.quarantine.column("location").to_pylist() == ["line 0", "line 3"]
    assert rest.prompt_at.tolist() == [0, 1, 3, 4] and rest.quarantine_at.tolist() == [2, 5]
    again = Mapped.concat([head, rest])
    assert again.prompts.equals(mapped.prompts) and again.prompt_at.tolist() == mapped.prompt_at.tolist()


def test_every_write_holds_batch_size_records(lake, tmp_path, monkeypatch):
    path = _write_pool(tmp_path / "p.jsonl")
    _force_workers(monkeypatch, 500)
    sizes = []
    real_flush = stage._Batch.flush

    def flush(self, lake_):
        sizes.append(min(self.records, self.size))
        return real_flush(self, lake_)

    monkeypatch.setattr(stage._Batch, "flush", flush)
    totals = stage.ingest_source(lake, SourceSettings(name="s", paths=[str(path)]), IngestSettings(batch_size=37),
                                 "run").totals()
    assert sizes[:-1] == [37] * (len(sizes) - 1) and 0 < sizes[-1] <= 37
    assert sum(sizes) == totals["read"] == lake.count("prompts") + lake.count("quarantine")


def _prompt_rows(n: int, offset: int) -> pa.Table:
    schema = arrow_schema(Prompt)
    text = [f"p{offset + i}" for i in range(n)]
    columns = {f.name: pa.array(text, f.type) if pa.types.is_string(f.type) else pa.nulls(n, f.type) for f in schema}
    columns["ingested_at"] = pa.array([0] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    return pa.table(columns, schema=schema)


def test_written_rows_leave_memory_before_the_commit(lake):
    with lake.transaction():
        base = pa.total_allocated_bytes()
        for offset in range(0, 60_000, 20_000):
            rows = _prompt_rows(20_000, offset)
            assert store.write_prompts(lake, rows, fresh=True) == 20_000
            del rows
            assert pa.total_allocated_bytes() - base < 256 << 10
    assert lake.count("prompts") == 60_000


def _big_ingest_script(home, tmp_path) -> tuple[Path, str]:
    """A `python -c` script ingesting a 200k-record file with two workers and small chunks (long
    enough to be interrupted mid-way), and that file."""
    pool = tmp_path / "pool.jsonl"
    pool.write_bytes(b"".join(b'{"problem": "problem %d"}\n' % i for i in range(200_000)))
    return pool, (
        "from warehouse.home import Home; from warehouse.lake import Lake; from tasks.ingest import stage;"
        "from schemas.config import SourceSettings, IngestSettings;"
        "stage.worker_count = lambda size: 2; stage.CHUNK_BYTES = 4096;"
        f"lake = Lake(Home.resolve({str(home.root)!r}));"
        f"stage.ingest_source(lake, SourceSettings(name='big', paths=[{str(pool)!r}]), IngestSettings(batch_size=5000), 'r')"
    )


def test_a_killed_ingest_takes_its_workers_along_and_leaves_no_rows(home, tmp_path):
    psutil = pytest.importorskip("psutil")
    pool, script = _big_ingest_script(home, tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", script])
    parent = psutil.Process(proc.pid)
    deadline = time.time() + 120
    workers: list = []
    while time.time() < deadline and (len(workers) < 2 or not any(home.data.rglob("*.parquet"))):
        workers = [p for c in parent.children() for p in c.children()]  # the fork server's children
        time.sleep(0.05)
    assert len(workers) >= 2 and any(home.data.rglob("*.parquet")), "the ingest never got to write with workers"
    helpers = parent.children()
    os.kill(proc.pid, signal.SIGKILL)  # mid-transaction: rows written, not committed
    proc.wait()
    _, alive = psutil.wait_procs(workers + helpers, timeout=20)
    assert alive == []
    with Lake(home) as lake:
        assert (lake.count("prompts"), lake.count("ingest_files")) == (0, 0)
        totals = stage.ingest_source(lake, SourceSettings(name="big", paths=[str(pool)]), IngestSettings(), "again")
        assert totals.totals()["ingested"] == lake.count("prompts") == 200_000


def test_worker_count_follows_size_and_the_environment(monkeypatch):
    from schemas.errors import UserError
    from tasks.ingest import workers

    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7}, raising=False)
    big = workers.MIN_BYTES
    assert (workers.worker_count(big - 1), workers.worker_count(None), workers.worker_count(big)) == (0, 0, 4)
    monkeypatch.setenv(workers.WORKERS_ENV, "0")
    assert workers.worker_count(big) == 0  # every file read in this process
    monkeypatch.setenv(workers.WORKERS_ENV, "6")
    assert workers.worker_count(big) == 6
    monkeypatch.setenv(workers.WORKERS_ENV, "two")
    with pytest.raises(UserError, match="TEACHABLE_INGEST_WORKERS must be a whole number") as caught:
        workers.worker_count(big)
    assert "\n" not in str(caught.value)


def test_a_file_rewritten_in_place_under_the_workers_keeps_no_rows(lake, tmp_path, monkeypatch):
    """Same size, same mtime, same inode: only the workers' check of the bytes they read sees it."""
    path = _write_pool(tmp_path / "p.jsonl")
    _force_workers(monkeypatch, 2000)
    real = stage.jsonl_chunks

    def rewriting(reader, size=None):
        for n, chunk in enumerate(real(reader, size)):
            if n == 3:  # this process read these bytes already; the worker has not yet
                before = os.stat(path)
                with open(path, "r+b") as handle:
                    handle.seek(chunk.offset)
                    handle.write(chunk.data.replace(b"Problem", b"Changed"))
                os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
            yield chunk

    monkeypatch.setattr(stage, "jsonl_chunks", rewriting)
    totals = stage.ingest_source(lake, SourceSettings(name="s", paths=[str(path)]), IngestSettings(), "run").totals()
    assert (totals["read"], totals["ingested"], totals["quarantine_reasons"]) == (1, 0, {"file_changed": 1})
    assert lake.count("prompts") == 0


def test_an_error_while_writing_stops_the_workers_and_returns(lake, tmp_path, monkeypatch):
    psutil = pytest.importorskip("psutil")
    path = _write_pool(tmp_path / "p.jsonl")
    _force_workers(monkeypatch, 500)

    def failing(self, lake_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(stage._Batch, "flush", failing)

    def grandchildren() -> list:  # the fork server's workers, and other fixtures' (a model server's engine)
        return [p for c in psutil.Process().children() for p in c.children()]

    before = {p.pid for p in grandchildren()}
    with pytest.raises(RuntimeError, match="disk full"):
        stage.ingest_source(lake, SourceSettings(name="s", paths=[str(path)]), IngestSettings(batch_size=50), "r")
    workers = [p for p in grandchildren() if p.pid not in before]
    _, alive = psutil.wait_procs(workers, timeout=20)
    assert alive == [] and lake.count("prompts") == 0


def test_ctrl_c_stops_an_ingest_and_its_workers_promptly(home, tmp_path):
    """SIGINT reaches the whole process group: the workers ignore it and finish the rows they are
    sending, the parent stops; nothing may hang on a half-sent message."""
    psutil = pytest.importorskip("psutil")
    pool, script = _big_ingest_script(home, tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    deadline = time.time() + 120
    workers: list = []
    while time.time() < deadline and (len(workers) < 2 or not any(home.data.rglob("*.parquet"))):
        workers = [p for c in parent.children() for p in c.children()]
        time.sleep(0.05)
    assert len(workers) >= 2, "no worker processes started"
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    _, alive = psutil.wait_procs(workers, timeout=20)
    assert alive == []
