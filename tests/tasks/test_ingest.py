import gzip
import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.config import IngestSettings, SourceSettings
from schemas.errors import UserError
from tasks.ingest.stage import ingest_source


def ingest(lake, path, settings=None, **fields):
    source = SourceSettings(name=fields.pop("name", "src"), paths=[str(path)], **fields)
    return ingest_source(lake, source, settings or IngestSettings(), f"run-{uuid.uuid4().hex[:8]}").totals()


def quarantine(lake):
    return lake.query("SELECT location, reason FROM quarantine ORDER BY location").to_pylist()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_good_and_bad_lines_in_one_file(lake, tmp_path):
    lines = [
        b'{"problem": "1+1?", "answer": 2}',
        b'{"problem": "broken',
        b"[1, 2]",
        b'{"question": "no problem field here"}',
        b'{"problem": ""}',
        b'{"problem": 42}',
        b'{"problem": "bad \xff\xfe bytes"}',
        b'{"problem": "ok again", "answer": {"nested": 1}}',
        b'{"problem": "' + b"x" * 50 + b'"}',
        b'{"problem": "last good", "answer": "\\\\boxed{7}"}',
    ]
    path = write(tmp_path / "mixed.jsonl", b"\n".join(lines) + b"\n")
    totals = ingest(lake, path, IngestSettings(max_problem_chars=40), problem_field="problem")
    assert totals["read"] == 10
    assert totals["ingested"] == 2
    assert totals["read"] == totals["ingested"] + totals["quarantined"]
    assert quarantine(lake) == [
        {"location": "line 2", "reason": "malformed_json"},
        {"location": "line 3", "reason": "not_an_object"},
        {"location": "line 4", "reason": "missing_problem"},
        {"location": "line 5", "reason": "empty_problem"},
        {"location": "line 6", "reason": "wrong_type"},
        {"location": "line 7", "reason": "invalid_utf8"},
        {"location": "line 8", "reason": "wrong_type"},
        {"location": "line 9", "reason": "problem_too_long"},
    ]
    rows = lake.query("SELECT source_id, answer FROM prompts ORDER BY source_id").to_pylist()
    assert rows == [{"source_id": "1", "answer": "2"}, {"source_id": "10", "answer": "7"}]


def test_rerun_adds_no_rows_anywhere(lake, tmp_path):
    path = write(tmp_path / "a.jsonl", b'{"problem": "p1"}\n{"problem": \n{"problem": "p2"}\n')
    first = ingest(lake, path)
    second = ingest(lake, path)
    assert (first["ingested"], first["quarantined"]) == (2, 1)
    assert (second["ingested"], second["unchanged"], second["quarantined"]) == (0, 2, 1)
    assert lake.count("prompts") == 2
    assert lake.count("quarantine") == 1
    assert lake.count("ingest_files") == 2


def test_bom_crlf_and_blank_lines(lake, tmp_path):
    path = write(tmp_path / "bom.jsonl", b'\xef\xbb\xbf{"problem": "a"}\r\n\r\n{"problem": "b"}\r\n')
    totals = ingest(lake, path)
    assert (totals["read"], totals["ingested"]) == (2, 2)
    problems = lake.query("SELECT problem, source_id FROM prompts ORDER BY problem").to_pylist()
    assert problems == [{"problem": "a", "source_id": "1"}, {"problem": "b", "source_id": "3"}]


def test_empty_file_is_quarantined_not_crashed(lake, tmp_path):
    totals = ingest(lake, write(tmp_path / "empty.jsonl", b""))
    assert totals == {**totals, "read": 1, "ingested": 0, "quarantined": 1}
    assert quarantine(lake) == [{"location": "file", "reason": "empty_file"}]


def test_id_field_and_duplicate_ids(lake, tmp_path):
    rows = [{"uid": "a", "problem": "p"}, {"uid": "b", "problem": "q"}, {"uid": "a", "problem": "r"}, {"problem": "s"}]
    path = write(tmp_path / "ids.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    totals = ingest(lake, path, id_field="uid")
    assert totals["ingested"] == 2
    assert [r["reason"] for r in quarantine(lake)] == ["duplicate_id", "missing_id"]
    assert sorted(lake.query("SELECT source_id FROM prompts").column(0).to_pylist()) == ["a", "b"]


def test_json_array_csv_parquet_gzip(lake, tmp_path):
    records = [{"problem": f"p{i}", "answer": i, "level": i % 3} for i in range(5)]
    (tmp_path / "a.json").write_text(json.dumps(records))
    (tmp_path / "b.csv").write_bytes(b"\xef\xbb\xbfproblem,answer\r\nc1,1\r\n\"multi\nline\",2\r\nragged,3,extra\r\n")
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "c.parquet")
    with gzip.open(tmp_path / "d.jsonl.gz", "wb") as handle:
        handle.write(b"\n".join(json.dumps(r).encode() for r in records))
    totals = {name: ingest(lake, tmp_path / name, name=name) for name in ("a.json", "b.csv", "c.parquet", "d.jsonl.gz")}
    assert [t["ingested"] for t in totals.values()] == [5, 2, 5, 5]
    assert totals["b.csv"]["quarantine_reasons"] == {"malformed_csv_row": 1}
    multi = lake.query("SELECT problem FROM prompts WHERE source = 'b.csv' AND source_id = '2'").column(0).to_pylist()
    assert multi == ["multi\nline"]
    extra = lake.query("SELECT extra FROM prompts WHERE source = 'c.parquet' AND source_id = '2'").column(0)[0].as_py()
    assert json.loads(extra) == {"level": 1}


def test_json_array_that_breaks_midway_keeps_the_start(lake, tmp_path):
    path = write(tmp_path / "cut.json", b'[{"problem": "a"}, {"problem": "b"}, {"problem": "c"')
    totals = ingest(lake, path)
    assert totals["ingested"] == 2
    assert totals["read"] == totals["ingested"] + totals["quarantined"]
    assert quarantine(lake) == [{"location": "item 3", "reason": "malformed_json"}]


def test_hugging_face_path_on_local_files(lake, tmp_path):
    folder = tmp_path / "hf_dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(json.dumps({"question": f"q{i}", "answer": f"#### {i}"}) for i in range(4)))
    totals = ingest(lake, f"hf://{folder}", name="hf")
    assert totals["ingested"] == 4
    assert sorted(lake.query("SELECT answer FROM prompts").column(0).to_pylist()) == ["0", "1", "2", "3"]


def test_procedural_source_is_deterministic(lake):
    first = ingest(lake, "procedural://?n=50&seed=3", name="gen")
    again = ingest(lake, "procedural://?n=50&seed=3", name="gen")
    assert (first["ingested"], again["ingested"], again["unchanged"]) == (50, 0, 50)
    kinds = lake.query("SELECT count(DISTINCT json_extract_string(extra, '$.kind')) FROM prompts").column(0)[0].as_py()
    assert kinds >= 5
    assert lake.query("SELECT count(*) FROM prompts WHERE answer IS NOT NULL").column(0)[0].as_py() > 40


@pytest.mark.parametrize(
    ("paths", "fmt", "message"),
    [
        (["/no/such/file.jsonl"], None, "no such file"),
        (["/tmp/*.nothing-matches"], None, "no files match"),
        (["README"], None, "cannot infer the format"),
        (["x.jsonl"], "xml", "unknown format"),
    ],
)
def test_user_mistakes_are_one_line_errors(lake, tmp_path, monkeypatch, paths, fmt, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README").write_text("hello")
    (tmp_path / "x.jsonl").write_text("{}")
    with pytest.raises(UserError, match=message) as caught:
        ingest_source(lake, SourceSettings.model_construct(name="s", paths=paths, format=fmt, split="train",
                                                         id_field=None, problem_field=None, answer_field=None,
                                                         domain=None, hf_config=None), IngestSettings(), "r")
    assert "\n" not in str(caught.value)


def test_crash_mid_file_leaves_no_partial_rows(lake, tmp_path, monkeypatch):
    from tasks.ingest import stage

    path = write(tmp_path / "big.jsonl", b"\n".join(b'{"problem": "p%d"}' % i for i in range(100)))
    calls = {"n": 0}
    real_flush = stage._Batch.flush

    def flush_then_crash(self, lake_):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real_flush(self, lake_)

    monkeypatch.setattr(stage._Batch, "flush", flush_then_crash)
    with pytest.raises(KeyboardInterrupt):
        ingest(lake, path, IngestSettings(batch_size=10))
    assert lake.count("prompts") == 0
    monkeypatch.undo()
    assert ingest(lake, path, IngestSettings(batch_size=10))["ingested"] == 100
