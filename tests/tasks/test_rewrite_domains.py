"""Rewrite by domain: code and choice prompts never reach the math rewrite prompt; failed requests
decide nothing and a run where most failed stops with one line (tests/support/fake_openai.py)."""

from __future__ import annotations

import json

import pytest

from schemas.config import IngestSettings, SourceSettings
from schemas.errors import UserError
from schemas.llm import EngineSettings
from schemas.traces import RewriteSettings
from tasks.ingest.stage import ingest_source
from tasks.rewrite.stage import run_rewrite
from tests.support.fake_openai import FakeOpenAI

RECORDS = [
    {"id": "proof", "problem": "Prove that 3 + 4 = 7 for the numbers 3 and 4."},
    {"id": "code", "prompt": "Prove that add works: write add(a, b).",
     "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "add"},
    {"id": "choice", "question": "Show that the capital of France is one of these.", "choices": ["Rome", "Paris"],
     "answer": "B"},
]


def rewriter(messages: list[dict], index: int) -> str:
    return json.dumps({"problem": "What is the sum of 3 and 4?", "answer": "7", "answer_type": "number"})


@pytest.fixture
def pool(lake, tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    ingest_source(lake, SourceSettings(name="pool", paths=[str(path)], id_field="id"), IngestSettings(), "ingest-1")
    return lake


def settings(url: str) -> RewriteSettings:
    return RewriteSettings(rewriter=EngineSettings(kind="openai", base_url=url, model="r", max_attempts=1))


def test_only_answer_domains_are_rewritten(pool, home):
    with FakeOpenAI(rewriter) as fake:
        report = run_rewrite(pool, settings(fake.base_url), "rewrite-1", home.cache / "llm.sqlite")
        sent = [r["messages"][-1]["content"] for r in fake.requests]
    assert report.candidates == 1 and report.accepted == 1
    assert report.passed_through == {"code": 1, "choice": 1}
    assert len(sent) == 1 and "3 + 4" in sent[0] and "add(a, b)" not in sent[0]


def test_an_outage_decides_nothing_and_fails_in_one_line(pool, home):
    failed = pytest.raises(UserError, match=r"rewrite: 2 of 2 samples failed .* 1 prompts left for the next run")
    with FakeOpenAI(rewriter, status=503) as down, failed:
        run_rewrite(pool, settings(down.base_url), "rewrite-1", home.cache / "llm.sqlite")
    assert pool.query("SELECT count(*) FROM rewrites").column(0)[0].as_py() == 0
    with FakeOpenAI(rewriter) as up:
        assert run_rewrite(pool, settings(up.base_url), "rewrite-2", home.cache / "llm.sqlite").accepted == 1
