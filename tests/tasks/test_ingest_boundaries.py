"""Ingest boundaries and hostile input (issue 14, items 2 and 3): homes are never read, equal file
names in different folders stay different files, special files are refused, stdin is read on
purpose, a file that changes while it is read keeps nothing, deep values and huge integers
neither crash nor change, and the warehouse holds exactly what the totals say."""

import io
import json
import os
import sys
import uuid

import pytest

from schemas.config import IngestSettings, SourceSettings
from schemas.errors import UserError
from tasks.ingest.fields import prompt_id
from tasks.ingest.stage import ingest_source
from tasks.text import normalize_text, text_hash


def ingest(lake, *paths, name="src", **fields):
    source = SourceSettings(name=name, paths=[str(p) for p in paths], **fields)
    return ingest_source(lake, source, IngestSettings(), f"run-{uuid.uuid4().hex[:8]}").totals()


def rows(lake, sql):
    return lake.query(sql).to_pylist()


def test_directory_holding_the_home_never_reads_the_warehouse(lake, tmp_path):
    (tmp_path / "seeds.jsonl").write_text('{"problem": "p1"}\n{"problem": "p2"}\n')
    other = tmp_path / "old_home"  # another teachable home in the folder: skipped as well
    (other / "data").mkdir(parents=True)
    (other / "catalog.ducklake").write_bytes(b"x")
    (other / "data" / "rows.jsonl").write_text('{"problem": "from another warehouse"}\n')
    first = ingest(lake, tmp_path)
    lake.query("SELECT 1")  # the home now holds Parquet files and a catalog
    second = ingest(lake, tmp_path)
    assert (first["read"], first["ingested"]) == (2, 2)
    assert (second["read"], second["ingested"], second["unchanged"]) == (2, 0, 2)
    assert lake.count("prompts") == 2 and lake.count("quarantine") == 0
    lake.home.data.mkdir(exist_ok=True)  # small inserts are inlined: stand in for its Parquet files
    (lake.home.data / "rows.parquet").write_bytes(b"PAR1")
    with pytest.raises(UserError, match="no files match"):
        ingest(lake, f"{tmp_path}/**/*.parquet")
    with pytest.raises(UserError, match="inside the teachable home"):
        ingest(lake, lake.home.root)
    with pytest.raises(UserError, match="inside the teachable home"):
        ingest(lake, other / "data" / "rows.jsonl")


def test_equal_names_in_different_folders_are_different_files(lake, tmp_path):
    for folder, problems in (("a", ["same text", "only in a"]), ("b", ["same text"])):
        (tmp_path / "pool" / folder).mkdir(parents=True)
        (tmp_path / "pool" / folder / "train.jsonl").write_text("".join(json.dumps({"problem": p}) + "\n" for p in problems))
    (tmp_path / "pool" / "top.jsonl").write_text('{"problem": "top"}\n')
    totals = ingest(lake, tmp_path / "pool")
    assert totals["ingested"] == 4 and totals["files"] == 3
    per_file = rows(lake, "SELECT source_file, count(*) AS n FROM prompts GROUP BY 1 ORDER BY 1")
    assert per_file == [{"source_file": "a/train.jsonl", "n": 2}, {"source_file": "b/train.jsonl", "n": 1},
                        {"source_file": "top.jsonl", "n": 1}]
    recorded = rows(lake, "SELECT source_file, ingested FROM ingest_files ORDER BY 1")
    assert [r["ingested"] for r in recorded] == [2, 1, 1]
    # Files directly under the root keep the id they always had (the bare file name).
    top = rows(lake, "SELECT prompt_id FROM prompts WHERE source_file = 'top.jsonl'")[0]["prompt_id"]
    assert top == prompt_id("src", "top.jsonl", "1", text_hash(normalize_text("top")))
    with pytest.raises(UserError, match="same name 'train.jsonl'"):
        ingest(lake, tmp_path / "pool" / "a" / "train.jsonl", tmp_path / "pool" / "b" / "train.jsonl", name="x")


def test_single_file_ids_are_unchanged(lake, tmp_path):
    path = tmp_path / "sub" / "gsm.jsonl"
    path.parent.mkdir()
    path.write_text('{"question": "What is 2+2?", "answer": "#### 4"}\n')
    ingest(lake, path)
    row = rows(lake, "SELECT prompt_id, source_file FROM prompts")[0]
    assert row == {"source_file": "gsm.jsonl",
                   "prompt_id": prompt_id("src", "gsm.jsonl", "1", text_hash(normalize_text("What is 2+2?")))}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_devices_are_refused_in_one_line(lake, tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="is a FIFO, not a regular file: .* pass '-'"):
        ingest(lake, fifo)
    with pytest.raises(UserError, match="is a device"):
        ingest(lake, "/dev/zero", format="jsonl")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "dir" / "also.jsonl")  # inside a directory: not a data file, left out
    (tmp_path / "dir" / "real.jsonl").write_text('{"problem": "p"}\n')
    assert ingest(lake, tmp_path / "dir")["ingested"] == 1


def test_stdin_is_read_through_a_spooled_copy(lake, monkeypatch):
    data = json.dumps([{"problem": "from a pipe"}, {"problem": "second"}]).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    totals = ingest(lake, "-")
    assert totals["ingested"] == 2
    assert rows(lake, "SELECT source_file, path, format, content_sha256 IS NOT NULL AS hashed FROM ingest_files") == [
        {"source_file": "stdin", "path": "-", "format": "json", "hashed": True}]


def test_a_file_that_changes_while_it_is_read_keeps_no_rows(lake, tmp_path, monkeypatch):
    from tasks.readers import files

    path = tmp_path / "growing.jsonl"
    path.write_text("".join(f'{{"problem": "p{i}"}}\n' for i in range(10)))
    real = files.FILE_READERS["jsonl"]

    def appending(reader):
        for n, item in enumerate(real(reader)):
            if n == 3:
                with open(path, "a") as handle:
                    handle.write('{"problem": "appended"}\n')
            yield item

    monkeypatch.setitem(files.FILE_READERS, "jsonl", appending)
    totals = ingest(lake, path)
    assert (totals["read"], totals["ingested"], totals["quarantine_reasons"]) == (1, 0, {"file_changed": 1})
    assert lake.count("prompts") == 0
    assert rows(lake, "SELECT reason, location FROM quarantine") == [{"reason": "file_changed", "location": "file"}]
    monkeypatch.undo()
    assert ingest(lake, path)["ingested"] == 11


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_deep_values_are_quarantined_and_reading_goes_on(lake, tmp_path):
    lines = ['{"problem": "before"}', '{"problem": "deep", "meta": %s}' % _deep(1000),
             '{"problem": "deep300", "meta": %s}' % _deep(300), '{"problem": "d", "answer": %s}' % _deep(5000),
             '{"problem": "after"}']
    (tmp_path / "deep.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "deep.json").write_text('[{"problem": "x"}, {"problem": "y", "m": %s}, {"problem": "z"}]' % _deep(3000))
    (tmp_path / "next.jsonl").write_text('{"problem": "next file"}\n')
    totals = ingest(lake, tmp_path / "deep.jsonl", tmp_path / "deep.json", tmp_path / "next.jsonl")
    assert (totals["read"], totals["ingested"], totals["quarantined"]) == (9, 5, 4)
    assert totals["quarantine_reasons"] == {"too_deep": 4}
    assert sorted(r["problem"] for r in rows(lake, "SELECT problem FROM prompts")) == [
        "after", "before", "next file", "x", "z"]
    assert lake.count("quarantine") == 4


def test_integers_beyond_64_bits_are_kept_exactly(lake, tmp_path):
    big, neg = 123456789012345678901234567890, -(2**63) - 1
    (tmp_path / "big.jsonl").write_text(
        f'{{"problem": "a", "answer": {big}, "n": [{big}]}}\n{{"problem": "b", "answer": {neg}}}\n'
        f'{{"problem": "c", "answer": 1{"0" * 5000}}}\n{{"problem": "d", "answer": 7}}\n')
    (tmp_path / "big.json").write_text(f'[{{"problem": "e", "answer": 1}}, {{"problem": "f", "answer": {big}}}, '
                                       f'{{"problem": "g", "answer": 3}}]')
    totals = ingest(lake, tmp_path / "big.jsonl", tmp_path / "big.json")
    assert (totals["ingested"], totals["quarantine_reasons"]) == (6, {"number_too_long": 1})
    got = {r["problem"]: r for r in rows(lake, "SELECT problem, answer, answer_raw, extra FROM prompts")}
    assert got["a"]["answer"] == got["a"]["answer_raw"] == str(big)
    assert json.loads(got["a"]["extra"]) == {"n": [big]}
    assert got["b"]["answer_raw"] == str(neg)
    assert [got[k]["answer"] for k in "efg"] == ["1", str(big), "3"]
    content = rows(lake, "SELECT content_sha256 FROM ingest_files WHERE source_file = 'big.json'")[0]["content_sha256"]
    import hashlib

    assert content == hashlib.sha256((tmp_path / "big.json").read_bytes()).hexdigest()
