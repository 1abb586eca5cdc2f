"""The decontaminate stage on a real warehouse: verdicts, evidence, reruns, keys, embeddings, judge."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pytest

from schemas.config import IngestSettings, SourceConfig
from schemas.decontam import DecontamSettings
from schemas.records import Duplicate
from tasks.decontam.stage import check_key, run_decontam
from tasks.ingest.stage import ingest_source

JANET = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for "
         "her friends every day with four. She sells the remainder at the farmers' market daily for $2 per "
         "fresh duck egg. How much in dollars does she make every day at the farmers' market?")
CARLA = ("Carla is downloading a 200 GB file. Normally she can download 2 GB/minute, but 40% of the way "
         "through the download, Windows forces a restart to install updates, which takes 20 minutes. Then "
         "Carla has to restart the download from the beginning. How long does it take to download the file?")
DIVISORS = "How many positive whole-number divisors does 196 have?"
REPHRASED_JANET = ("Every day, the ducks owned by Janet produce 16 eggs. Each morning she has three of them for "
                   "breakfast, and she uses four more daily to bake muffins for her friends. Whatever eggs are "
                   "left she sells at the farmers' market, charging $2 for each one. What are her daily "
                   "earnings at the market, in dollars?")


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    jsonl(folder / "gsm8k_test.jsonl", [{"question": JANET, "answer": "16-3-4=9\n#### 18"},
                                        {"question": CARLA, "answer": "...\n#### 160"}])
    jsonl(folder / "math500.jsonl", [{"problem": DIVISORS, "answer": "9", "unique_id": "test/nt/572.json"}])
    return folder


def ingest_pool(lake, tmp_path: Path, rows: list[dict], name: str = "pool") -> None:
    path = jsonl(tmp_path / f"{name}.jsonl", rows)
    ingest_source(lake, SourceConfig(name=name, paths=[str(path)]), IngestSettings(), f"ingest-{uuid.uuid4().hex[:6]}")


POOL = [
    {"problem": JANET, "answer": "18"},                                           # 1 verbatim
    {"problem": f"Question: {CARLA}\nAnswer:", "answer": "160"},                  # 2 wrapped
    {"problem": DIVISORS, "answer": "9"},                                         # 3 short item
    {"problem": JANET.replace("16 eggs", "20 eggs").replace("$2", "$3"), "answer": "39"},  # 4 variant
    {"problem": "A train travels 60 miles in 1.5 hours. What is its average speed in mph?", "answer": "40"},
]


def contamination(lake) -> dict[str, set]:
    rows = lake.query("SELECT p.source_id, c.benchmark, c.method FROM contamination AS c "
                      "JOIN prompts AS p USING (prompt_id)").to_pylist()
    out: dict[str, set] = {}
    for row in rows:
        out.setdefault(row["source_id"], set()).add((row["benchmark"], row["method"]))
    return out


def settings(bench_dir: Path, **changes) -> DecontamSettings:
    return DecontamSettings(benchmarks=[str(bench_dir)], embedding=False, **changes)


def test_copies_are_flagged_with_evidence_and_variants_only_reviewed(lake, tmp_path, bench_dir):
    ingest_pool(lake, tmp_path, POOL)
    report = run_decontam(lake, settings(bench_dir), "run-1")
    found = contamination(lake)
    assert ("gsm8k", "ngram13") in found["1"] and ("gsm8k", "ngram13") in found["2"]
    assert ("math500", "short") in found["3"]
    assert "4" not in found and "5" not in found  # other numbers: a variant, not a copy
    assert (report.checked, report.contaminated) == (5, 3)
    review = lake.query("SELECT p.source_id, r.evidence FROM decontam_reviews AS r JOIN prompts AS p "
                        "USING (prompt_id)").to_pylist()
    assert {r["source_id"] for r in review} == {"4"}
    assert all("numbers disagree" in r["evidence"] for r in review)
    evidence = lake.query("SELECT evidence FROM contamination WHERE method = 'ngram13' LIMIT 1").column(0)[0].as_py()
    assert evidence.startswith("shared 13-gram: ")
    assert lake.count("benchmark_items") == 3
    assert {(h["benchmark"], h["method"]): h["prompts"] for h in report.hits}[("gsm8k", "ngram13")] == 2


def test_rerun_checks_only_new_prompts_and_a_new_key_rechecks_all(lake, tmp_path, bench_dir):
    ingest_pool(lake, tmp_path, POOL)
    first = run_decontam(lake, settings(bench_dir), "run-1")
    snapshot = lake.current_snapshot()
    again = run_decontam(lake, settings(bench_dir), "run-2")
    assert again.checked == 0 and sum(again.rows.values()) == 0
    assert lake.current_snapshot() == snapshot  # nothing written, no new snapshot
    ingest_pool(lake, tmp_path, [{"problem": f"{CARLA} Think step by step.", "answer": "160"}], name="more")
    third = run_decontam(lake, settings(bench_dir), "run-3")
    assert (third.checked, third.contaminated) == (1, 1)
    changed = settings(bench_dir, ratio_contaminated=0.6)
    assert check_key([], changed) != check_key([], settings(bench_dir))
    fourth = run_decontam(lake, changed, "run-4")
    assert fourth.checked == 6 and fourth.rows["contamination"] == 0  # same verdicts, no duplicate rows
    assert first.check_key != fourth.check_key
    assert lake.count("decontam_checked") == 5 + 1 + 6


def test_prompts_with_a_duplicates_row_are_not_checked(lake, tmp_path, bench_dir):
    ingest_pool(lake, tmp_path, POOL)
    first_id = lake.query("SELECT prompt_id FROM prompts WHERE source_id = '1'").column(0)[0].as_py()
    other = lake.query("SELECT prompt_id FROM prompts WHERE source_id = '5'").column(0)[0].as_py()
    batch = pa.table({"prompt_id": [first_id], "duplicate_of": [other], "method": ["exact"],
                      "similarity": [1.0], "run_id": ["dedup"]})
    with lake.transaction():
        lake.insert_new(Duplicate, batch)
    report = run_decontam(lake, settings(bench_dir), "run-1")
    assert report.checked == 4 and "1" not in contamination(lake)


def test_embedding_layer_catches_a_rephrased_copy(lake, tmp_path, bench_dir):
    ingest_pool(lake, tmp_path, [{"problem": REPHRASED_JANET, "answer": "18"},
                                 {"problem": "Tom has 16 marbles and gives 3 to Ann. How many are left?",
                                  "answer": "13"}])
    report = run_decontam(lake, DecontamSettings(benchmarks=[str(bench_dir)]), "run-1")
    assert contamination(lake) == {"1": {("gsm8k", "embedding")}}
    assert report.embedded >= 1
    score = lake.query("SELECT score FROM contamination").column(0)[0].as_py()
    assert score >= 0.8
    assert lake.count("decontam_embeddings") >= 1  # item vectors cached for the next run


class _FakeOpenAI(BaseHTTPRequestHandler):
    """/v1/chat/completions: YES when problem A mentions a 'weighted' coin, else NO."""

    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _FakeOpenAI.seen.append({"auth": self.headers.get("Authorization"), "body": body})
        user = body["messages"][-1]["content"]
        answer = "YES" if "eggs per day" in user.split("Problem B:")[0] else "NO"
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": answer}}],
                 "usage": {"prompt_tokens": 50, "completion_tokens": 1, "total_tokens": 51}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def fake_openai():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeOpenAI.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_llm_judge_rules_on_borderline_pairs_and_never_stores_the_key(lake, tmp_path, bench_dir, fake_openai,
                                                                       monkeypatch):
    monkeypatch.setenv("TEACHABLE_TEST_JUDGE_KEY", "sk-secret-123")
    pool = [{"problem": JANET.replace("farmers' market daily", "market") + " eggs per day", "answer": "17"},
            {"problem": CARLA.replace("200 GB", "300 GB").replace("20 minutes", "30 minutes"), "answer": "240"}]
    ingest_pool(lake, tmp_path, pool)
    judge = settings(bench_dir, judge=True, judge_base_url=fake_openai, judge_model="fake-judge",
                     judge_api_key_env="TEACHABLE_TEST_JUDGE_KEY")
    report = run_decontam(lake, judge, "run-1")
    assert report.judged == {"contaminated": 1, "clean": 1}
    assert contamination(lake) == {"1": {("gsm8k", "llm_judge")}}
    verdicts = lake.query("SELECT DISTINCT p.source_id, r.verdict, r.judge_model FROM decontam_reviews AS r "
                          "JOIN prompts AS p USING (prompt_id) ORDER BY 1").to_pylist()
    assert verdicts == [{"source_id": "1", "verdict": "contaminated", "judge_model": "fake-judge"},
                        {"source_id": "2", "verdict": "clean", "judge_model": "fake-judge"}]
    assert {s["auth"] for s in _FakeOpenAI.seen} == {"Bearer sk-secret-123"}
    assert lake.count("llm_calls") == 2
    for table in ("runs", "llm_calls", "decontam_reviews", "contamination"):
        dump = json.dumps(lake.query(f"SELECT * FROM {table}").to_pylist(), default=str)
        assert "sk-secret-123" not in dump


def test_judge_failures_are_recorded_as_errors_not_crashes(lake, tmp_path, bench_dir):
    pool = [{"problem": CARLA.replace("200 GB", "300 GB").replace("20 minutes", "30 minutes"), "answer": "240"}]
    ingest_pool(lake, tmp_path, pool)
    unreachable = settings(bench_dir, judge=True, judge_base_url="http://127.0.0.1:9/v1", judge_timeout_s=2)
    report = run_decontam(lake, unreachable, "run-1")
    assert report.judged == {"error": 1} and report.contaminated == 0
    assert lake.query("SELECT status FROM llm_calls").column(0).to_pylist() == ["error"]
