"""Difficulty semantics on the deterministic endpoint (tests/support/fake_openai.py).

Each prompt's own verifier decides (code tests in the sandbox, option letters, math answers);
prompts without an answer are labelled only by a configured reference model, else `unlabelled`;
truncated samples (finish_reason "length", OpenAI chat completions: "the maximum number of tokens
specified in the request was reached") are `incomplete`, not wrong; failed samples are no votes.
"""

from __future__ import annotations

import itertools
import json

import pytest

from schemas.config import IngestSettings, SourceSettings
from schemas.difficulty import DifficultySettings
from schemas.errors import UserError
from schemas.llm import EngineSettings
from tasks.difficulty.stage import run_difficulty
from tasks.ingest.stage import ingest_source
from tests.support.fake_openai import FakeOpenAI

_runs = itertools.count()
GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
BAD = "```python\ndef add(a, b):\n    return a - b\n```"
RECORDS = [
    {"id": "code", "prompt": "Write add(a, b).", "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
     "entry_point": "add"},
    {"id": "stdio", "problem": "Read two ints, print their sum.",
     "input_output": json.dumps({"inputs": ["2 3\n", "10 -1\n"], "outputs": ["5\n", "9\n"]})},
    {"id": "choice", "question": "Capital of France?", "choices": ["Rome", "Paris", "Oslo"], "answer": "Paris"},
    {"id": "math", "problem": "What is 3 + 4?", "answer": "7"},
    {"id": "open", "problem": "How many legs has a spider? (no answer given)"},
    {"id": "long", "problem": "Prove the Riemann hypothesis.", "answer": "1"},
]


def answer(messages: list[dict], index: int):
    """Right on even sample indexes, wrong on odd ones; `long` is always cut at max_tokens."""
    text, right = messages[-1]["content"], index % 2 == 0
    if "Write add" in text:
        return GOOD if right else BAD
    if "print their sum" in text:
        return f"```python\na, b = map(int, input().split())\nprint(a + b if {right} else a * b)\n```"
    if "Capital" in text:
        return "The answer is \\boxed{B}." if right else "I think (A)."
    if "Riemann" in text:
        return ("Let us start by", "length")
    return "\\boxed{7}" if right else "\\boxed{8}"


def reference_answer(messages: list[dict], index: int) -> str:
    return "So \\boxed{8}." if index % 4 else "\\boxed{9}"  # plurality 8 (3 of 4)


@pytest.fixture
def pool(lake, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    ingest_source(lake, SourceSettings(name="mixed", paths=[str(path)], id_field="id"), IngestSettings(), "ingest-1")
    return lake


def settings(base_url: str, reference_url: str | None = None, **kw) -> DifficultySettings:
    def engine(url: str, model: str) -> EngineSettings:
        return EngineSettings(kind="openai", base_url=url, model=model, max_attempts=2, backoff_base_s=0.01)
    reference = engine(reference_url, "strong") if reference_url else None
    return DifficultySettings(base=engine(base_url, "base"), reference=reference, n=4, k_reference=4,
                              code_timeout_s=10, **kw)


def bands(lake) -> dict:
    rows = lake.query("SELECT p.source_id, f.band, f.pass_rate, f.label, f.label_source, f.reference_model, "
                      "f.n_incomplete FROM difficulty f JOIN prompts p USING (prompt_id)").to_pylist()
    return {r.pop("source_id"): r for r in rows}


def score(lake, home, s):
    return run_difficulty(lake, s, f"difficulty-{next(_runs)}", home.cache / "llm.sqlite")


def test_each_domain_by_its_own_verifier_and_no_self_labels(pool, home):
    with FakeOpenAI(answer) as base:
        report = score(pool, home, settings(base.base_url))
    got = bands(pool)
    for name in ("code", "stdio", "choice", "math"):
        assert got[name]["band"] == "teachable" and got[name]["pass_rate"] == 0.5, (name, got[name])
    assert got["choice"]["label"] == "B"
    assert got["long"]["band"] == "incomplete" and got["long"]["pass_rate"] is None
    assert got["long"]["n_incomplete"] == 4
    assert "open" not in got  # no answer and no reference model: unlabelled, never self-labelled
    assert report.unlabelled == 1 and report.funnel().dropped["unlabelled"] == 1
    assert report.bands["incomplete"] == 1 and report.samples_incomplete == 4
    assert report.domains["code"]["teachable"] == 2
    reasons = pool.query("SELECT DISTINCT verify_reason FROM difficulty_samples WHERE correct = false "
                         "ORDER BY 1").column(0).to_pylist()
    assert "failed: AssertionError" in reasons and "mismatch" in reasons


def test_a_reference_model_labels_what_has_no_answer(pool, home):
    with FakeOpenAI(answer) as base, FakeOpenAI(reference_answer) as strong:
        report = score(pool, home, settings(base.base_url, strong.base_url))
    row = bands(pool)["open"]
    assert row["label"] == "8" and row["label_source"] == "proxy" and row["reference_model"] == "strong"
    assert row["band"] == "teachable" and row["pass_rate"] == 0.5  # the base says 8 on odd indexes
    assert report.unlabelled == 0


def test_an_outage_bands_nothing_and_fails_then_a_healthy_run_bands_all(pool, home):
    failed = pytest.raises(UserError, match=r"difficulty: \d+ of \d+ samples failed .*left unbanded")
    with FakeOpenAI(answer, status=503) as down, failed:
        score(pool, home, settings(down.base_url))
    assert pool.query("SELECT count(*) FROM difficulty").column(0)[0].as_py() == 0
    with FakeOpenAI(answer) as up:
        score(pool, home, settings(up.base_url))
    healthy = {"code": "teachable", "stdio": "teachable", "choice": "teachable", "math": "teachable",
               "long": "incomplete"}  # the bands of a run that was healthy from the start (first test)
    assert {name: row["band"] for name, row in bands(pool).items()} == healthy


def test_incomplete_prompts_are_rescored_with_more_room(pool, home):
    with FakeOpenAI(answer) as base:
        score(pool, home, settings(base.base_url))
        assert bands(pool)["long"]["band"] == "incomplete"
        same = score(pool, home, settings(base.base_url))
        assert same.considered == 1 and same.unlabelled == 1 and same.llm["samples_generated"] == 0  # `open`
        again = score(pool, home, settings(base.base_url, max_tokens=4096, rescore_incomplete=True))
    assert again.considered == 2 and again.llm["samples_generated"] == 4  # `long` asked again, with more room
    assert pool.query("SELECT count(*) FROM difficulty WHERE band = 'incomplete'").column(0)[0].as_py() == 1


def judge_answer(messages: list[dict], index: int) -> str:
    text = messages[-1]["content"]
    if text.startswith("How difficult"):
        return "RATING: 7 | needs a clever substitution" if "essay" in text else "RATING: 2 | one step"
    response = text.split("Response:", 1)[1]
    return "The response says eight.\nCORRECT" if "eight" in response else "INCORRECT"


def open_answer(messages: list[dict], index: int) -> str:
    return "A spider has eight legs." if index % 2 == 0 else "Six legs, I believe."


def test_open_prompts_are_judge_verified_and_ratings_are_stored(lake, home, tmp_path):
    path = tmp_path / "open.jsonl"
    rows = [{"id": "legs", "problem": "How many legs has a spider? Answer in words.", "answer": "eight legs",
             "domain": "open"},
            {"id": "essay", "problem": "Write an essay on symmetry.", "domain": "open"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest_source(lake, SourceSettings(name="open", paths=[str(path)], id_field="id"), IngestSettings(), "ingest-1")
    with FakeOpenAI(open_answer) as base, FakeOpenAI(judge_answer) as judge:
        s = settings(base.base_url).model_copy(update={
            "judge": EngineSettings(kind="openai", base_url=judge.base_url, model="judge", max_attempts=1),
            "rate": True, "rating_bands": True})
        report = score(lake, home, s)
    got = bands(lake)
    assert got["legs"]["band"] == "teachable" and got["legs"]["pass_rate"] == 0.5
    assert got["legs"]["label_source"] == "judge"
    assert got["essay"]["band"] == "teachable" and got["essay"]["label_source"] == "rating"  # rating 7: middle
    ratings = lake.query("SELECT prompt_id, rating, rationale FROM difficulty_ratings ORDER BY rating").to_pylist()
    assert [r["rating"] for r in ratings] == [2, 7] and ratings[0]["rationale"] == "one step"
    assert report.as_dict()["rating_vs_pass_rate"] == {"2": {"prompts": 1, "mean_pass_rate": 0.5}}


def test_accepted_rewrites_are_scored_as_prompts_with_lineage(pool, home):
    import pyarrow as pa

    from schemas.records import Rewrite

    seed = pool.query("SELECT prompt_id FROM prompts WHERE source_id = 'open'").column(0)[0].as_py()
    rows = [{"prompt_id": seed, "rewritten_problem": "A spider: what is 3 + 4?", "answer": "7",
             "answer_type": "number", "status": "accepted", "reason": "rewritten: no_answer", "run_id": "rw"}]
    with pool.transaction():
        pool.insert_new(Rewrite, pa.Table.from_pylist(rows))
    with FakeOpenAI(answer) as base:
        score(pool, home, settings(base.base_url))
    row = pool.query("SELECT band, pass_rate, seed_prompt_id FROM difficulty WHERE prompt_id = ?",
                     [f"{seed}:rewrite"]).to_pylist()
    assert row == [{"band": "teachable", "pass_rate": 0.5, "seed_prompt_id": seed}]
    assert "open" not in bands(pool)  # the seed itself stays unlabelled
