"""Difficulty stage against the real SmolLM2 vLLM server: reruns, faults, kill -9, both engines."""

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas.config import IngestSettings, SourceSettings
from schemas.difficulty import DifficultySettings
from schemas.llm import EngineSettings
from tasks.difficulty.stage import run_difficulty
from tasks.ingest.stage import ingest_source
from tests.support.fault_proxy import FaultProxy
from warehouse.lake import Lake

pytestmark = pytest.mark.slow
_runs = itertools.count()


def seed_gsm8k(lake, shared_data, tmp_path, n):
    path = tmp_path / "gsm8k_head.jsonl"
    with open(shared_data / "seeds" / "gsm8k_train.jsonl") as src:
        path.write_text("".join(itertools.islice(src, n)))
    source = SourceSettings(name="gsm8k", paths=[str(path)], problem_field="question", answer_field="answer")
    ingest_source(lake, source, IngestSettings(), "ingest-test")


def settings_for(base_url, model, **kw) -> DifficultySettings:
    engine = EngineSettings(kind="openai", base_url=base_url, model=model, **kw.pop("engine", {}))
    return DifficultySettings(base=engine, n=kw.pop("n", 4), max_tokens=kw.pop("max_tokens", 64), **kw)


def banded(report) -> int:
    """Prompts with a final row: scored, or `incomplete` (short max_tokens truncates SmolLM2 often)."""
    return report.scored + report.bands["incomplete"]


def score(lake, home, settings):
    return run_difficulty(lake, settings, f"difficulty-{next(_runs)}", home.cache / "llm.sqlite")


def calls(lake, where="TRUE"):
    return lake.query(f"SELECT count(*) FROM llm_calls WHERE {where}").column(0)[0].as_py()


def test_scores_every_prompt_and_a_rerun_sends_nothing(local_llm_server, lake, home, shared_data, tmp_path):
    seed_gsm8k(lake, shared_data, tmp_path, 24)
    settings = settings_for(local_llm_server.base_url, local_llm_server.model_name)
    report = score(lake, home, settings)
    errors = lake.query("SELECT DISTINCT error FROM llm_calls WHERE error IS NOT NULL").column(0).to_pylist()
    assert banded(report) == 24 and report.pending == 0, errors
    assert sum(report.correct_histogram.values()) == report.scored
    assert sum(report.bands.values()) == 24
    samples = lake.query("SELECT count(*) AS n, count(DISTINCT prompt_id) AS p FROM difficulty_samples").to_pylist()
    assert samples == [{"n": 96, "p": 24}]
    rows = lake.query("SELECT pass_rate, n_correct, n, n_incomplete, band FROM difficulty").to_pylist()
    for row in rows:
        assert row["n"] + row["n_incomplete"] == 4
        if row["band"] == "incomplete":  # fewer than n/2 complete samples: no pass rate
            assert row["n"] < 2 and row["pass_rate"] is None
            continue
        assert row["pass_rate"] == row["n_correct"] / row["n"]
        expected = "too_easy" if row["pass_rate"] > 0.8 else "too_hard" if row["pass_rate"] < 0.2 else "teachable"
        assert row["band"] == expected
    sent = calls(lake)
    assert sent == 24  # one request per prompt with n=4
    # A rerun over the same prompts (summaries deleted, so they are selected again) hits the cache only.
    with lake.transaction():
        lake.con.execute("DELETE FROM difficulty")
    again = score(lake, home, settings)
    assert banded(again) == 24 and again.llm["samples_generated"] == 0 and again.llm["samples_cached"] == 96
    assert calls(lake) == sent


def test_faults_lose_no_sample_and_resend_nothing(local_llm_server, lake, home, shared_data, tmp_path):
    seed_gsm8k(lake, shared_data, tmp_path, 16)
    with FaultProxy(local_llm_server.base_url, fault_rate=0.2, seed=7, hang_s=12) as proxy:
        settings = settings_for(proxy.base_url, local_llm_server.model_name, temperature=0.95,
                                engine={"timeout_s": 10, "backoff_base_s": 0.2, "backoff_max_s": 2, "max_attempts": 20})
        report = score(lake, home, settings)
    assert banded(report) == 16 and report.pending == 0
    assert lake.query("SELECT count(*) FROM difficulty_samples").column(0)[0].as_py() == 64
    assert proxy.repeated_after_success == 0
    injected = sum(proxy.counts[f] for f in ("429", "500", "timeout", "malformed"))
    assert injected >= 1
    assert calls(lake, "status = 'retry'") == injected
    assert calls(lake, "status = 'ok'") == proxy.counts["upstream_ok"]


def cached_responses(cache) -> int:
    """Rows in the response cache; 0 while the file or its table is still being created."""
    if not cache.exists():
        return 0
    with sqlite3.connect(cache) as db:
        try:
            return db.execute("SELECT count(*) FROM responses").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_kill_9_mid_stage_then_resume(local_llm_server, home, shared_data, tmp_path):
    with Lake(home) as lake:
        seed_gsm8k(lake, shared_data, tmp_path, 40)
    settings = settings_for(local_llm_server.base_url, local_llm_server.model_name, temperature=0.9,
                            chunk_prompts=8, engine={"max_concurrency": 2})
    script = (
        "import json, sys; from pathlib import Path; from warehouse.home import Home; from warehouse.lake import Lake;"
        "from schemas.difficulty import DifficultySettings; from tasks.difficulty.stage import run_difficulty;"
        f"home = Home.resolve({str(home.root)!r}); s = DifficultySettings.model_validate_json(sys.argv[1]);"
        "run_difficulty(Lake(home), s, 'killed-run', home.cache / 'llm.sqlite')"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, settings.model_dump_json()])
    cache = home.cache / "llm.sqlite"
    deadline = time.time() + 300
    while time.time() < deadline:
        if cached_responses(cache) >= 40:
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(cache) as db:
        cached_before = db.execute("SELECT count(*) FROM responses").fetchone()[0]
    assert 40 <= cached_before < 160, "kill should land mid-stage"
    with Lake(home) as lake:
        report = score(lake, home, settings)
        assert report.llm["samples_generated"] == 160 - cached_before  # only what never arrived
        assert lake.query("SELECT count(*) FROM difficulty").column(0)[0].as_py() == 40
        assert lake.query("SELECT count(*) FROM difficulty_samples").column(0)[0].as_py() == 160
        duplicated = lake.query("SELECT call_key FROM llm_calls WHERE status = 'ok' GROUP BY 1 HAVING count(*) > 1")
        assert duplicated.num_rows == 0  # no finished request was sent twice
        assert lake.query("SELECT sum(samples) FROM llm_calls WHERE status = 'ok'").column(0)[0].as_py() == 160
        assert calls(lake, "run_id = 'killed-run'") >= cached_before // 4  # the killed run's log was kept


def test_canary_key_never_written(local_llm_server, teachable_cli, home, shared_data, tmp_path, prefect_harness):
    canary = "sk-canary-" + "Q" * 30
    with Lake(home) as lake:
        seed_gsm8k(lake, shared_data, tmp_path, 4)
    env_key = "TEACHABLE_CANARY_KEY"
    os.environ[env_key] = canary
    try:
        proc = teachable_cli("--home", str(home.root), "difficulty", "--engine", "openai", "--base-url",
                             local_llm_server.base_url, "--model", local_llm_server.model_name, "--api-key-env",
                             env_key, "--n", "2", "--max-tokens", "16")
    finally:
        del os.environ[env_key]
    assert canary not in proc.stdout + proc.stderr
    prefect_home = os.environ["PREFECT_HOME"]
    for root in (home.root, tmp_path, prefect_home):
        for path in Path(root).rglob("*"):
            if path.is_file():
                assert canary.encode() not in path.read_bytes(), path


def test_in_process_vllm_engine_gives_the_same_table_shape(lake, home, shared_data, tmp_path, local_llm_server):
    seed_gsm8k(lake, shared_data, tmp_path, 4)
    server = settings_for(local_llm_server.base_url, local_llm_server.model_name, n=2, max_tokens=32)
    # Another temperature: with the same request the cache (shared by engines) would answer all.
    in_process = server.model_copy(update={"temperature": 0.8, "base": EngineSettings(
        kind="vllm", model=local_llm_server.model_name, vllm_args={"max_model_len": 1024})})
    score(lake, home, server)
    with_server = lake.query("SELECT * FROM difficulty ORDER BY prompt_id")
    with lake.transaction():
        lake.con.execute("DELETE FROM difficulty")
        lake.con.execute("DELETE FROM difficulty_samples")
    report = score(lake, home, in_process)
    assert banded(report) == 4 and report.llm["samples_generated"] == 8
    in_proc = lake.query("SELECT * FROM difficulty ORDER BY prompt_id")
    assert in_proc.schema == with_server.schema
    assert in_proc.column("prompt_id").to_pylist() == with_server.column("prompt_id").to_pylist()
    assert {n + m for n, m in zip(in_proc.column("n").to_pylist(), in_proc.column("n_incomplete").to_pylist())} == {2}
    engines = dict(lake.con.execute("SELECT engine, count(*) FROM llm_calls GROUP BY 1").fetchall())
    assert engines == {"openai": 4, "vllm": 4}
    assert json.dumps(report.as_dict())
