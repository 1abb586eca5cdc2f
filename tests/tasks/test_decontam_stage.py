"""The decontaminate stage on a real warehouse: verdicts, evidence, reruns, keys, embeddings, judge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from schemas.config import IngestSettings, SourceSettings
from schemas.decontam import DecontamSettings, DeprecatedSettingWarning, judge_key_fields
from schemas.llm import EngineSettings
from schemas.records import Duplicate
from tasks.decontam.stage import check_key, run_decontam
from tasks.ingest.stage import ingest_source
from tests.support.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[2]
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
    ingest_source(lake, SourceSettings(name=name, paths=[str(path)]), IngestSettings(), f"ingest-{uuid.uuid4().hex[:6]}")


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
    """Siblings off unless asked: these pools use numbers-changed variants as the borderline
    pairs (tests/tasks/test_decontam_siblings.py covers the sibling layer)."""
    return DecontamSettings(benchmarks=[str(bench_dir)], embedding=False, **{"siblings": False, **changes})


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


def test_the_check_key_holds_the_precision_auto_chose_and_batch_size_is_plumbing():
    from tasks.embeddings import resolve_dtype

    chosen = resolve_dtype("auto")
    other = "float32" if chosen == "bfloat16" else "bfloat16"
    auto = DecontamSettings(embedding_dtype="auto")
    assert check_key([], auto) == check_key([], DecontamSettings(embedding_dtype=chosen))
    assert check_key([], auto) != check_key([], DecontamSettings(embedding_dtype=other))
    assert check_key([], auto) == check_key([], DecontamSettings(embedding_batch_size=64))


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


KEY_ENV = "TEACHABLE_TEST_JUDGE_KEY"
# Borderline for the layers (the numbers or the answer disagree); only the judge decides them.
JUDGE_POOL = [{"problem": JANET.replace("farmers' market daily", "market") + " eggs per day", "answer": "17"},
              {"problem": CARLA.replace("200 GB", "300 GB").replace("20 minutes", "30 minutes"), "answer": "240"}]


def judge_answer(messages: list[dict], index: int) -> str:
    """The scripted judge: YES when problem A says 'eggs per day', else NO."""
    return "YES" if "eggs per day" in messages[-1]["content"].split("Problem B:")[0] else "NO"


def judge_engine(base_url: str, **changes) -> EngineSettings:
    return EngineSettings(kind="openai", base_url=base_url, model="fake-judge", api_key_env=KEY_ENV,
                          backoff_base_s=0, **changes)


def test_llm_judge_rules_on_borderline_pairs_and_never_stores_the_key(lake, home, tmp_path, bench_dir,
                                                                       monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-secret-123")
    ingest_pool(lake, tmp_path, JUDGE_POOL)
    cache = home.cache / "llm.sqlite"
    with FakeOpenAI(judge_answer, api_key="sk-secret-123") as fake:  # a wrong key would be a 401
        judged = settings(bench_dir, judge=judge_engine(fake.base_url))
        report = run_decontam(lake, judged, "run-1", cache_path=cache)
    assert report.judged == {"contaminated": 1, "clean": 1}
    assert contamination(lake) == {"1": {("gsm8k", "llm_judge")}}
    verdicts = lake.query("SELECT DISTINCT p.source_id, r.verdict, r.judge_model FROM decontam_reviews AS r "
                          "JOIN prompts AS p USING (prompt_id) ORDER BY 1").to_pylist()
    assert verdicts == [{"source_id": "1", "verdict": "contaminated", "judge_model": "fake-judge"},
                        {"source_id": "2", "verdict": "clean", "judge_model": "fake-judge"}]
    assert [(r["model"], r["temperature"], r["n"], r["max_tokens"]) for r in fake.requests] == \
        [("fake-judge", 0.0, 1, 4)] * 2
    assert lake.count("llm_calls") == 2
    for table in ("runs", "llm_calls", "decontam_reviews", "contamination"):
        dump = json.dumps(lake.query(f"SELECT * FROM {table}").to_pylist(), default=str)
        assert "sk-secret-123" not in dump
    assert b"sk-secret-123" not in cache.read_bytes()
    assert "sk-secret-123" not in judged.model_dump_json()


def test_judge_calls_land_in_llm_calls_and_a_rerun_sends_nothing(lake, home, tmp_path, bench_dir):
    ingest_pool(lake, tmp_path, JUDGE_POOL)
    cache = home.cache / "llm.sqlite"
    with FakeOpenAI(judge_answer) as fake:
        judged = settings(bench_dir, judge=judge_engine(fake.base_url, prices={
            "fake-judge": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}))
        first = run_decontam(lake, judged, "run-1", cache_path=cache)
        assert len(fake.requests) == 2 and first.rows["llm_calls"] == 2
        calls = lake.query("SELECT run_id, stage, engine, model, status, attempt, samples, prompt_tokens, "
                           "completion_tokens, cost_usd FROM llm_calls").to_pylist()
        assert calls == [{"run_id": "run-1", "stage": "decontaminate", "engine": "openai", "model": "fake-judge",
                          "status": "ok", "attempt": 1, "samples": 1, "prompt_tokens": 10,
                          "completion_tokens": 7, "cost_usd": pytest.approx(24e-6)}] * 2
        again = run_decontam(lake, judged, "run-2", cache_path=cache)  # nothing pending
        assert again.checked == 0 and len(fake.requests) == 2
        # A new check key re-checks every prompt: the same pairs are judged again, from the cache.
        rechecked = settings(bench_dir, judge=judged.judge, allowlist_min_items=6)
        third = run_decontam(lake, rechecked, "run-3", cache_path=cache)
    assert third.checked == 2 and third.judged == first.judged == {"contaminated": 1, "clean": 1}
    assert len(fake.requests) == 2  # no request sent again
    assert lake.count("llm_calls") == 2 and "llm_calls" not in third.rows


def test_judge_failures_are_recorded_as_errors_not_crashes(lake, home, tmp_path, bench_dir):
    ingest_pool(lake, tmp_path, JUDGE_POOL[1:])
    unreachable = settings(bench_dir, judge=judge_engine("http://127.0.0.1:9/v1", timeout_s=2, max_attempts=2))
    report = run_decontam(lake, unreachable, "run-1", cache_path=home.cache / "llm.sqlite")
    assert report.judged == {"error": 1} and report.contaminated == 0
    statuses = lake.query("SELECT status FROM llm_calls ORDER BY attempt").column(0).to_pylist()
    assert statuses == ["retry", "error"]  # the client's retries, each attempt one row


def test_the_judge_needs_the_cache_path(lake, tmp_path, bench_dir):
    ingest_pool(lake, tmp_path, JUDGE_POOL)
    with pytest.raises(ValueError, match="cache_path"):
        run_decontam(lake, settings(bench_dir, judge=judge_engine("http://127.0.0.1:9/v1")), "run-1")


def test_old_flat_judge_keys_still_work_with_one_deprecation_line(lake, home, tmp_path, bench_dir, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-old")
    ingest_pool(lake, tmp_path, JUDGE_POOL)
    with FakeOpenAI(judge_answer, api_key="sk-old") as fake:
        with pytest.warns(DeprecatedSettingWarning) as caught:
            old = settings(bench_dir, judge=True, judge_base_url=fake.base_url, judge_model="fake-judge",
                           judge_api_key_env=KEY_ENV, judge_timeout_s=5)
        assert len(caught) == 1
        line = str(caught[0].message)
        assert "\n" not in line and "judge_model -> judge.model" in line and "judge_base_url -> judge.base_url" in line
        assert caught[0].filename == __file__  # points at the code that used the old keys
        assert old.judge == EngineSettings(kind="openai", base_url=fake.base_url, model="fake-judge",
                                           api_key_env=KEY_ENV, timeout_s=5)
        report = run_decontam(lake, old, "run-1", cache_path=home.cache / "llm.sqlite")
    assert report.judged == {"contaminated": 1, "clean": 1} and lake.count("llm_calls") == 2
    with pytest.warns(DeprecatedSettingWarning, match="stays off"):
        off = DecontamSettings(judge=False, judge_model="m", judge_max_pairs=3)
    assert off.judge is None and off.judge_max_pairs == 3
    with pytest.warns(DeprecatedSettingWarning):
        assert DecontamSettings(judge=True).judge == EngineSettings(
            kind="openai", base_url="http://127.0.0.1:8000/v1", model="SmolLM2-135M-Instruct", timeout_s=60)
    with pytest.raises(ValidationError, match="inside `judge:`"):
        DecontamSettings(judge={"model": "m"}, judge_model="other")


def test_the_new_judge_shape_warns_nothing_and_keeps_the_old_check_keys():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        on = DecontamSettings(judge={"kind": "openai", "base_url": "http://a/v1", "model": "SmolLM2-135M-Instruct"})
        off = DecontamSettings()
        again = DecontamSettings.model_validate(on.model_dump())  # a dumped config reads back silently
    assert again == on and off.judge is None
    # The key's judge part has the old flat shape, so check keys did not change with the new shape.
    assert judge_key_fields(off) == {"judge": False, "judge_model": "SmolLM2-135M-Instruct"}
    assert judge_key_fields(on) == {"judge": True, "judge_model": "SmolLM2-135M-Instruct"}
    with pytest.warns(DeprecatedSettingWarning):
        assert check_key([], DecontamSettings(judge=True)) == check_key([], on)
    # Only the judge's model decides verdicts: endpoint, key name, limits and retries do not.
    plumbing = DecontamSettings(judge=on.judge.model_copy(update={
        "base_url": "http://b/v1", "api_key_env": "OTHER", "timeout_s": 5, "max_concurrency": 1}), judge_max_pairs=1)
    assert check_key([], plumbing) == check_key([], on) != check_key([], off)
    other = DecontamSettings(judge=on.judge.model_copy(update={"model": "bigger"}))
    assert check_key([], other) != check_key([], on)


def test_the_deprecation_line_shows_once_on_stderr(tmp_path):
    code = ("from schemas.decontam import DecontamSettings\n"
            "for _ in range(3):\n"
            "    DecontamSettings(judge=True, judge_model='m')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    assert proc.stderr.count("DeprecatedSettingWarning") == 1 and "judge_model -> judge.model" in proc.stderr
