"""Fuzz: broken inputs never crash ingest and every record is accounted for.

Hypothesis builds files from a mix of good records and every kind of damage (cut JSON, raw
bytes, wrong types, BOM, CRLF, empty, huge, mutated bytes) in JSONL, JSON-array and CSV form;
for each we check read = ingested + unchanged + quarantined and that the warehouse holds
exactly what the counters claim.
"""

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.config import IngestSettings, SourceSettings
from tasks.ingest.stage import ingest_source

_counter = itertools.count()

scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
good = st.builds(lambda p, a: {"problem": p, "answer": a}, st.text(min_size=1, max_size=60), scalar)
damaged = st.one_of(
    st.builds(lambda p: {"problem": p}, st.one_of(scalar, st.lists(scalar, max_size=3), st.dictionaries(st.text(max_size=5), scalar, max_size=2))),
    st.builds(lambda a: {"answer": a}, st.one_of(scalar, st.dictionaries(st.text(max_size=3), scalar, max_size=2))),
    st.builds(lambda p: {"problem": p * 50}, st.text(min_size=1, max_size=5)),
    st.just({"problem": "   \t "}),
)
record = st.one_of(good, damaged)


def _line(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


line = st.one_of(
    record.map(_line),
    record.map(lambda r: _line(r)[: max(1, len(_line(r)) // 2)]),   # cut mid-record
    st.binary(max_size=40),                                          # arbitrary bytes
    st.lists(scalar, max_size=3).map(_line),                         # not an object
)


@st.composite
def jsonl_file(draw) -> bytes:
    lines = draw(st.lists(line, max_size=25))
    sep = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = sep.join(lines)
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if data and draw(st.booleans()):  # flip a few bytes anywhere
        raw = bytearray(data)
        for pos in draw(st.lists(st.integers(0, len(raw) - 1), max_size=3)):
            raw[pos] = draw(st.integers(0, 255))
        data = bytes(raw)
    return data


@st.composite
def json_array_file(draw) -> bytes:
    items = draw(st.lists(st.one_of(record, scalar), max_size=20))
    data = json.dumps(items).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@st.composite
def csv_file(draw) -> bytes:
    cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=15)
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=4), max_size=15))
    text = "problem,answer\n" + "\n".join(",".join(json.dumps(c) if draw(st.booleans()) else c for c in row) for row in rows)
    data = text.encode()
    if draw(st.booleans()):
        data = draw(st.binary(max_size=4)) + data  # damage the header too
    if draw(st.booleans()):
        data += draw(st.binary(max_size=10))
    return data


def _check(lake, tmp_path, suffix: str, data: bytes) -> None:
    name = f"fuzz{next(_counter)}"
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(data)
    source = SourceSettings(name=name, paths=[str(path)])
    totals = ingest_source(lake, source, IngestSettings(max_problem_chars=100, batch_size=7), f"run-{name}").totals()
    assert totals["read"] == totals["ingested"] + totals["unchanged"] + totals["quarantined"]
    assert totals["read"] >= 1
    stored = lake.query("SELECT count(*) FROM prompts WHERE source = ?", [name]).column(0)[0].as_py()
    assert stored == totals["ingested"] + totals["unchanged"]
    quarantined = lake.query("SELECT count(*) FROM quarantine WHERE source = ?", [name]).column(0)[0].as_py()
    assert quarantined == totals["quarantined"]
    again = ingest_source(lake, source, IngestSettings(max_problem_chars=100), f"rerun-{name}").totals()
    assert again["ingested"] == 0 and again["read"] == totals["read"]


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(data=jsonl_file())
def test_fuzz_jsonl(lake, tmp_path, data):
    _check(lake, tmp_path, ".jsonl", data)


@FUZZ
@given(data=json_array_file())
def test_fuzz_json_array(lake, tmp_path, data):
    _check(lake, tmp_path, ".json", data)


@FUZZ
@given(data=csv_file())
def test_fuzz_csv(lake, tmp_path, data):
    _check(lake, tmp_path, ".csv", data)
