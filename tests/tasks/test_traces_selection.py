"""Which prompts the traces stage picks: the configured base model's bands only (several base
models in one home never mix), and an accepted rewrite by its own band."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.errors import UserError
from schemas.records import Difficulty, Prompt, Rewrite
from schemas.traces import TracesSettings
from tasks.traces.stage import select_prompts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def band(prompt_id: str, model: str, value: str, label: str = "1") -> Difficulty:
    return Difficulty(prompt_id=prompt_id, model=model, n=4, band=value, label=label, run_id="d")


@pytest.fixture
def pool(lake):
    with lake.transaction():
        lake.insert_records([Prompt(prompt_id=p, source="s", source_file="f", source_id=p, problem=f"seed {p}",
                                    answer="1", domain="math", text_hash=p, run_id="i", ingested_at=T0)
                             for p in ("p1", "p2", "p3", "p4")])
        lake.insert_records([
            band("p1", "base-a", "teachable"), band("p1", "base-b", "too_easy"),
            band("p2", "base-a", "too_easy"), band("p2:rewrite", "base-a", "teachable", label="42"),
            band("p3", "base-a", "teachable"),  # its rewrite is not scored yet
            band("p4", "base-a", "teachable"), band("p4:rewrite", "base-a", "too_easy"),
        ])
        lake.insert_records([Rewrite(prompt_id=p, rewritten_problem=f"rewritten {p}", answer="42",
                                     status="accepted", run_id="r") for p in ("p2", "p3", "p4")])
    return lake


def picked(lake, **settings) -> dict[str, str]:
    return {r["prompt_id"]: r["problem"] for r in select_prompts(lake, TracesSettings(**settings))}


def test_bands_come_from_the_configured_base_model_only(pool):
    assert picked(pool, base_model="base-a") == {"p1": "seed p1", "p2": "rewritten p2"}
    assert picked(pool, base_model="base-b") == {}  # p1 is too_easy for base-b; no other rows of base-b


def test_several_base_models_need_a_choice(pool):
    with pytest.raises(UserError, match="several base models"):
        select_prompts(pool, TracesSettings())


def test_a_rewrite_is_traced_by_its_own_band_not_its_seeds(pool):
    rows = {r["prompt_id"]: r for r in select_prompts(pool, TracesSettings(base_model="base-a"))}
    assert rows["p2"]["label"] == "42"  # teachable rewrite of a too_easy seed: traced, checked against its answer
    assert "p3" not in rows  # unscored rewrite waits for the difficulty stage
    assert "p4" not in rows  # too_easy rewrite of a teachable seed: not traced
    seeds_only = picked(pool, base_model="base-a", include_rewritten=False)
    assert seeds_only == {"p1": "seed p1"}


def test_an_outage_traces_nothing_and_fails_in_one_line_then_a_healthy_run_traces(pool, home):
    from schemas.llm import EngineSettings
    from tasks.traces.stage import run_traces
    from tests.support.fake_openai import FakeOpenAI

    def teacher(messages: list[dict], index: int) -> str:
        return "<think>one and zero</think> The answer is \\boxed{1}."

    def settings(url: str) -> TracesSettings:
        engine = EngineSettings(kind="openai", base_url=url, model="t", max_attempts=1)
        return TracesSettings(teacher=engine, base_model="base-a", k=2, allow_answer_only=True)

    with FakeOpenAI(teacher, status=503) as down, pytest.raises(UserError, match=r"traces: 4 of 4 samples failed"):
        run_traces(pool, settings(down.base_url), "traces-1", home.cache / "llm.sqlite")
    assert pool.count("traces") == 0  # a failure is never a result
    with FakeOpenAI(teacher) as up:
        report = run_traces(pool, settings(up.base_url), "traces-2", home.cache / "llm.sqlite")
    assert report.prompts == 2 and report.responses == 4 == pool.count("traces")
    assert report.kept == 2 and report.dropped == {"wrong_answer": 2}  # p2's rewrite asks for 42
