"""LLM layer against a scripted OpenAI-compatible server (fast; the real model is in integration)."""

import asyncio
import time

import pytest

from schemas.llm import EngineSettings, LLMRequest, Message
from tasks.llm.base import LLMFatalError, split_tokens
from tasks.llm.cache import sample_key
from tasks.llm.client import LLMClient
from tasks.llm.limits import RateLimiter
from tests.support.fake_openai import FakeOpenAI
from tests.support.fault_proxy import FaultProxy


def request(text: str, **kw) -> LLMRequest:
    return LLMRequest(messages=(Message(role="user", content=text),), max_tokens=32, **kw)


def client(tmp_path, base_url, run_id="run-1", **settings) -> LLMClient:
    engine = EngineSettings(kind="openai", model="fake", base_url=base_url, api_key_env="TEACHABLE_TEST_KEY",
                            backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=2, **settings)
    return LLMClient(engine, tmp_path / "cache.sqlite", run_id=run_id, stage="test")


def test_cache_key_changes_with_everything_that_changes_the_answer():
    base = sample_key("m", request("q"), 0)
    assert base == sample_key("m", request("q"), 0)
    others = {sample_key("m2", request("q"), 0), sample_key("m", request("q2"), 0), sample_key("m", request("q"), 1),
              sample_key("m", request("q", temperature=0.5), 0), sample_key("m", request("q", seed=3), 0),
              sample_key("m", request("q", template_version="2"), 0)}
    assert base not in others and len(others) == 6


def test_samples_come_in_order_and_a_rerun_sends_nothing(tmp_path):
    with FakeOpenAI() as fake:
        llm = client(tmp_path, fake.base_url)
        got = llm.samples([request("a"), request("b")], n=4)
        assert [len(s) for s in got] == [4, 4]
        assert all(s is not None and "boxed" in s.text for row in got for s in row)
        assert len(fake.requests) == 2 and {r["n"] for r in fake.requests} == {4}
        llm.close()
        again = client(tmp_path, fake.base_url, run_id="run-2")
        assert again.samples([request("a"), request("b")], n=4) == got
        assert len(fake.requests) == 2
        assert again.stats["samples_cached"] == 8
        more = again.samples([request("a")], n=6)[0]  # only the 2 missing samples are asked for
        assert more[:4] == got[0] and len(fake.requests) == 3 and fake.requests[-1]["n"] == 2


def test_fan_out_when_server_caps_n(tmp_path):
    with FakeOpenAI(max_n=1) as fake:
        got = client(tmp_path, fake.base_url).samples([request("a")], n=3)[0]
        assert all(s is not None for s in got)
        assert [r["n"] for r in fake.requests] == [3, 2, 1]


def test_faults_are_retried_and_logged_and_nothing_succeeded_is_resent(tmp_path, lake):
    with FakeOpenAI() as fake, FaultProxy(fake.base_url, fault_rate=0.5, seed=1, hang_s=3) as proxy:
        llm = client(tmp_path, proxy.base_url, max_attempts=30, max_concurrency=4)
        got = llm.samples([request(f"q{i}") for i in range(12)], n=2)
        assert all(s is not None for row in got for s in row)
        assert proxy.repeated_after_success == 0
        assert min(proxy.counts[f] for f in ("429", "500", "timeout", "malformed")) >= 1
        assert llm.flush(lake) == proxy.counts["requests"]
    statuses = dict(lake.con.execute("SELECT status, count(*) FROM llm_calls GROUP BY 1").fetchall())
    assert statuses["ok"] == 12
    assert statuses["retry"] == proxy.counts["requests"] - 12


def test_auth_failure_is_one_clear_fatal_error(tmp_path):
    with FakeOpenAI(api_key="right") as fake:
        with pytest.raises(LLMFatalError, match="refused the request: AuthenticationError 401") as caught:
            client(tmp_path, fake.base_url).samples([request("a")], n=1)
        assert len(fake.requests) == 1  # never retried
        assert "\n" not in str(caught.value)


def test_key_comes_from_the_environment_and_is_never_stored(tmp_path, monkeypatch, lake):
    canary = "sk-canary-" + "Z" * 24
    monkeypatch.setenv("TEACHABLE_TEST_KEY", canary)
    with FakeOpenAI(api_key=canary) as fake:
        llm = client(tmp_path, fake.base_url)
        assert llm.samples([request("a")], n=1)[0][0] is not None
        llm.flush(lake)
        llm.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


def test_missing_key_for_a_hosted_endpoint_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TEACHABLE_TEST_KEY", raising=False)
    engine = EngineSettings(kind="openai", model="gpt-x", base_url=None, api_key_env="TEACHABLE_TEST_KEY")
    with pytest.raises(LLMFatalError, match="TEACHABLE_TEST_KEY"):
        LLMClient(engine, tmp_path / "c.sqlite", run_id="r", stage="s").samples([request("a")], n=1)


def test_reasoning_returned_separately_is_kept(tmp_path):
    with FakeOpenAI(reasoning_field="reasoning_content") as fake:
        sample = client(tmp_path, fake.base_url).samples([request("a")], n=1)[0][0]
        assert sample.reasoning == "reasoning 0"


def test_cost_from_price_table(tmp_path, lake):
    with FakeOpenAI() as fake:
        llm = client(tmp_path, fake.base_url, prices={"fake": {"input_per_mtok": 1_000_000, "output_per_mtok": 2_000_000}})
        llm.samples([request("a")], n=2)
        llm.flush(lake)
    row = lake.query("SELECT prompt_tokens, completion_tokens, cost_usd FROM llm_calls").to_pylist()[0]
    assert row == {"prompt_tokens": 10, "completion_tokens": 14, "cost_usd": pytest.approx(10 * 1 + 14 * 2)}


def test_token_rate_limit_waits():
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=600)  # 10 tokens/s

    async def go() -> float:
        await limiter.acquire(600)
        started = time.monotonic()
        await limiter.acquire(15)
        return time.monotonic() - started

    assert 1.2 <= asyncio.run(go()) <= 3.0


def test_split_tokens_keeps_the_total():
    assert sum(split_tokens(101, ["a", "bbb", "cc"])) == 101
    assert split_tokens(0, []) == []
