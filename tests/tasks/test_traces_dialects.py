"""Every endpoint dialect from seeds to a release, against a server as strict as the real
provider (tests/support/dialects.py); plus the dry run against the real run and the budget cap."""

import pyarrow.parquet as pq
import pytest

from schemas.config import load_config
from schemas.errors import UserError
from tasks.stage import STAGES, run_recorded
from tests.support.fake_openai import FakeOpenAI
from tests.support.oracle import oracle, pipeline_config, procedural_answers
from warehouse.home import Home
from warehouse.lake import Lake
from warehouse.releases import version_dir

SPEC = "procedural://?n=12&seed=5&levels=1-2"
REASONING = "Work through it step by step, then check it."


def engine(fake, model, **more) -> dict:
    return {"kind": "openai", "base_url": fake.base_url, "model": model, "max_concurrency": 2, **more}


def config(tmp_path, fake, base: dict, teacher: dict, **traces):
    extra = {"difficulty": {"base": base, "n": 4, "max_tokens": 64},
             "rewrite": {"rewriter": base, "attempts": 1, "max_tokens": 64},
             "traces": {"teacher": teacher, "k": 2, "max_tokens": 64, "bands": ["teachable", "too_easy", "too_hard"],
                        **traces}}
    return load_config(pipeline_config(tmp_path / "cfg.yaml", fake.base_url, SPEC, extra=extra))


def run(home, pipeline, names=None, **overrides) -> dict:
    results = {}
    for spec in STAGES:
        if names and spec.name not in names:
            continue
        settings = spec.settings_of(pipeline)
        if spec.name in overrides:
            settings = overrides[spec.name]
        if spec.skip_reason(settings):
            continue
        results[spec.name] = run_recorded(spec.name, settings, str(home)).result
    return results


def release(home, version=1) -> list[dict]:
    path = version_dir(Home.resolve(home), "oracle", version) / "data"
    rows = [r for f in sorted(path.iterdir()) for r in pq.read_table(f).to_pylist()]
    return sorted(((r["prompt_id"], r["sample_index"], r["messages"][-1]["content"]) for r in rows))


def traces_rows(home) -> list[dict]:
    with Lake(Home.resolve(home), read_only=True) as lake:
        return lake.query("SELECT status, reasoning, reasoning_channel FROM traces").to_pylist()


@pytest.mark.parametrize(("dialect", "model", "channel"), [
    ("deepseek", "deepseek-reasoner", "reasoning_content"),
    ("vllm_parser", "qwq-32b", "reasoning"),
    ("r1_template", "r1-distill-qwen-7b", "template_think"),
    ("inline", "open-reasoner", "think_tags"),
])
def test_each_open_dialect_reaches_a_release_with_the_teachers_reasoning(tmp_path, dialect, model, channel):
    home = tmp_path / "home"
    with FakeOpenAI(oracle(procedural_answers(SPEC)), dialect=dialect) as fake:
        results = run(home, config(tmp_path, fake, engine(fake, model), engine(fake, model)))
    assert results["publish"]["rows"] > 0
    kept = [r for r in traces_rows(home) if r["status"] == "kept"]
    assert kept and {r["reasoning_channel"] for r in kept} == {channel}
    assistants = [content for _, _, content in release(home)]
    assert all(c.startswith(f"<think>\n{REASONING}\n</think>\n\n") for c in assistants)


def test_o_series_scores_difficulty_but_is_refused_as_teacher_after_the_probe(tmp_path):
    home = tmp_path / "home"
    with FakeOpenAI(oracle(procedural_answers(SPEC)), dialect="openai_reasoning") as fake:
        pipeline = config(tmp_path, fake, engine(fake, "o4-mini"), engine(fake, "o4-mini"))
        done = run(home, pipeline, names=("ingest", "dedup", "decontaminate", "difficulty", "rewrite"))
        assert done["difficulty"]["scored"] > 0 and all("max_tokens" not in r for r in fake.requests)
        before = len(fake.requests)
        with pytest.raises(UserError, match="hides its reasoning") as refused:
            run(home, pipeline, names=("traces",))
    assert len(fake.requests) - before <= 3 and "\n" not in str(refused.value)
    assert traces_rows(home) == []


def calls(home, stage="traces") -> dict:
    with Lake(Home.resolve(home), read_only=True) as lake:
        return lake.query("SELECT count(*) AS requests, coalesce(sum(prompt_tokens), 0) AS prompt_tokens, "
                          "coalesce(sum(completion_tokens), 0) AS completion_tokens, sum(cost_usd) AS cost "
                          f"FROM llm_calls WHERE stage = '{stage}' AND status = 'ok'").to_pylist()[0]


def test_dry_run_equals_the_real_run_on_requests_tokens_and_cost(tmp_path):
    from tasks.stage import StageContext
    from tasks.traces.stage import estimate

    home = tmp_path / "home"
    with FakeOpenAI(oracle(procedural_answers(SPEC)), dialect="deepseek") as fake:
        pipeline = config(tmp_path, fake, engine(fake, "deepseek-reasoner"), engine(fake, "deepseek-reasoner"))
        run(home, pipeline, names=("ingest", "dedup", "decontaminate", "difficulty", "rewrite"))
        first = pipeline.traces.model_copy(update={"limit": 2})  # gives the cache its statistics
        run(home, pipeline, names=("traces",), traces=first)
        before = calls(home)
        resolved = Home.resolve(home)
        sent_before = len(fake.requests)
        with Lake(resolved, read_only=True) as lake:
            guess = estimate(StageContext(lake, "dry", resolved.cache / "llm.sqlite"), pipeline.traces)
        assert len(fake.requests) == sent_before  # the dry run sent nothing
        run(home, pipeline, names=("traces",))
        after = calls(home)
    real = {k: after[k] - before[k] for k in ("requests", "prompt_tokens", "completion_tokens")}
    assert guess["requests"] == real["requests"] > 0
    assert guess["prompt_tokens"] == real["prompt_tokens"] and guess["completion_tokens"] == real["completion_tokens"]
    assert guess["cost_usd"] == pytest.approx(after["cost"] - before["cost"], rel=1e-9)


def test_budget_cap_stops_cleanly_and_a_rerun_gives_the_uncapped_release(tmp_path):
    answers = oracle(procedural_answers(SPEC))
    with FakeOpenAI(answers, dialect="deepseek") as fake:
        base = engine(fake, "deepseek-reasoner")
        free = config(tmp_path, fake, base, base)
        run(tmp_path / "uncapped", free)
        full_cost = calls(tmp_path / "uncapped")["cost"]
        capped_home = tmp_path / "capped"
        cap = full_cost / 2
        capped = config(tmp_path, fake, base, {**base, "budget_usd": cap})
        run(capped_home, capped, names=("ingest", "dedup", "decontaminate", "difficulty", "rewrite"))
        with pytest.raises(UserError, match="budget") as stopped:
            run(capped_home, capped, names=("traces",))
        spent, one = calls(capped_home)["cost"], 1e-6 * (10 * 0.55 + 14 * 2.19)  # the fake's usage, deepseek prices
        assert cap - one < spent <= cap + 2 * one  # max_concurrency 2: at most two in flight at the cap
        assert "\n" not in str(stopped.value) and "rerun" in str(stopped.value)
        run(capped_home, free, names=("traces", "publish"))  # a higher budget (none) continues
    assert calls(capped_home)["requests"] == calls(tmp_path / "uncapped")["requests"]
    assert release(capped_home) == release(tmp_path / "uncapped")


def test_batch_teacher_with_failures_and_a_sigkill_gives_the_synchronous_release(tmp_path):
    import os
    import subprocess
    import sys

    from tests.support.fake_batches import FakeBatchAPI

    answers = oracle(procedural_answers(SPEC))
    (tmp_path / "sync").mkdir()
    with FakeOpenAI(answers, dialect="vllm_parser") as fake:
        run(tmp_path / "sync" / "home", config(tmp_path / "sync", fake, engine(fake, "qwq"), engine(fake, "qwq")))
    home = tmp_path / "home"
    with FakeOpenAI(answers, dialect="vllm_parser") as fake, \
            FakeBatchAPI(FakeOpenAI(answers, dialect="vllm_parser"), fail_share=0.1) as api:
        teacher = {"kind": "openai_batch", "base_url": api.base_url, "model": "qwq", "batch_wait_s": 30,
                   "batch_poll_s": 0.01}
        pipeline = config(tmp_path, fake, engine(fake, "qwq"), teacher)
        run(home, pipeline, names=("ingest", "dedup", "decontaminate", "difficulty", "rewrite"))
        child = (f"from schemas.config import load_config; from tasks.stage import run_recorded; "
                 f"run_recorded('traces', load_config({str(tmp_path / 'cfg.yaml')!r}).traces, {str(home)!r})")
        killed = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300,
                                env={**os.environ, "TEACHABLE_FAILPOINTS": "llm.batch.created"})
        assert killed.returncode == -9, killed.stderr[-2000:]  # SIGKILL between submit and collect
        assert len(api.batches) == 1 and traces_rows(home) == []
        results = run(home, pipeline, names=("traces", "publish"))
    assert results["traces"]["incomplete"] == 0 and len(api.failed_once) > 0
    assert sorted(api.lines_answered) == sorted(set(api.lines_answered))  # every request answered once
    assert len(api.batches) == 2  # the killed one adopted, one more for the 10% that failed
    assert release(home) == release(tmp_path / "sync" / "home")
