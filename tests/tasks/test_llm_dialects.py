"""Endpoint dialects against a server that refuses what each real provider refuses
(tests/support/dialects.py cites the documented contract of each)."""

import pytest

from schemas.errors import UserError
from schemas.llm import EngineSettings, LLMRequest, Message
from tasks.llm.base import LLMFatalError
from tasks.llm.client import LLMClient
from tasks.llm.dialects import dialect_of, is_reasoning_model, reasoning_channel
from tasks.llm.openai_engine import OpenAIEngine
from tasks.llm.preflight import probe, teacher_preflight
from tasks.llm.pricing import PRICES_AS_OF, price_of
from tasks.traces.filters import check_response
from tests.support.fake_openai import FakeOpenAI

ORACLE = "<think>Two and three make five.</think> The answer is \\boxed{5}."


def answer(messages, index):
    return ORACLE


def request(text="q", **kw) -> LLMRequest:
    return LLMRequest(messages=(Message(role="user", content=text),), max_tokens=32, temperature=0.8, **kw)


def settings(base_url, model="fake", **kw) -> EngineSettings:
    return EngineSettings(kind="openai", model=model, base_url=base_url, api_key_env="TEACHABLE_TEST_KEY",
                          backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=5, **kw)


def client(tmp_path, engine: EngineSettings, stage="test") -> LLMClient:
    return LLMClient(engine, tmp_path / "cache.sqlite", run_id="r1", stage=stage)


@pytest.mark.parametrize("name", ["o1", "o1-mini", "o3", "o3-mini", "o4-mini", "o4-mini-2025-04-16", "gpt-5",
                                  "gpt-5-mini", "gpt-5.1", "openai/o3-mini"])
def test_reasoning_models_are_recognised_by_name(name):
    assert is_reasoning_model(name)


@pytest.mark.parametrize("name", ["gpt-4o", "gpt-4.1-mini", "deepseek-reasoner", "Qwen/QwQ-32B", "omni", "o", "ollama"])
def test_other_models_are_chat(name):
    assert not is_reasoning_model(name)


def test_override_wins_over_the_name():
    assert dialect_of(EngineSettings(model="my-o-proxy", reasoning=True)) == "reasoning"
    assert dialect_of(EngineSettings(model="o3", reasoning=False)) == "chat"


def test_o_series_request_is_accepted_first_time(tmp_path):
    with FakeOpenAI(answer, dialect="openai_reasoning") as fake:
        llm = client(tmp_path, settings(fake.base_url, "o4-mini", reasoning_effort="low"))
        got = llm.samples([request("a"), request("b")], n=2)
        assert all(s is not None for row in got for s in row)
        assert len(fake.requests) == 2  # nothing refused, nothing adapted
        body = fake.requests[0]
        assert body["max_completion_tokens"] == 32 and body["reasoning_effort"] == "low"
        assert not {"max_tokens", "temperature", "top_p"} & set(body)
        assert got[0][0].text == "The answer is \\boxed{5}." and got[0][0].channel == "none"  # reasoning hidden


def test_unsupported_parameter_400_is_understood_once_and_recorded(tmp_path, lake):
    """A proxy name the table does not know: the first 400s teach the dialect, later requests go adapted."""
    with FakeOpenAI(answer, dialect="openai_reasoning") as fake:
        llm = client(tmp_path, settings(fake.base_url, "corp-reasoner", max_concurrency=1))
        got = llm.samples([request(str(i)) for i in range(5)], n=1)
        llm.flush(lake)
    assert all(row[0] is not None for row in got)
    statuses = [r["status"] for r in lake.query("SELECT status FROM llm_calls ORDER BY created_at").to_pylist()]
    assert statuses.count("adapted") == 2 and statuses.count("ok") == 5
    errors = lake.query("SELECT error FROM llm_calls WHERE status = 'adapted' ORDER BY created_at").column(0).to_pylist()
    assert errors == ["max_tokens -> max_completion_tokens", "dropped temperature"]
    assert len(fake.requests) == 7  # 2 refused once each, then 5 answered: never retried blindly


def test_a_400_that_names_nothing_fixable_stays_fatal(tmp_path):
    with FakeOpenAI(answer, dialect="openai_reasoning") as fake:
        llm = client(tmp_path, settings(fake.base_url, "o3", params={"reasoning_effort": "extreme"}))
        with pytest.raises(LLMFatalError, match="refused"):
            llm.samples([request("a")], n=1)
        assert len(fake.requests) == 1


def test_deepseek_refuses_logprobs_which_is_dropped_once(tmp_path):
    with FakeOpenAI(answer, dialect="deepseek") as fake:
        llm = client(tmp_path, settings(fake.base_url, "deepseek-reasoner", params={"logprobs": True}, max_concurrency=1))
        got = llm.samples([request("a"), request("b")], n=1)
        assert all(row[0] is not None for row in got) and len(fake.requests) == 3
        assert "logprobs" not in fake.requests[-1] and fake.requests[-1]["temperature"] == 0.8  # accepted, no effect


def test_params_pass_through_to_the_body(tmp_path):
    with FakeOpenAI(answer) as fake:
        extra = {"chat_template_kwargs": {"enable_thinking": True}, "top_k": 20}
        client(tmp_path, settings(fake.base_url, params=extra)).samples([request("a")], n=1)
        body = fake.requests[0]
        assert body["chat_template_kwargs"] == {"enable_thinking": True} and body["top_k"] == 20
        assert body["max_tokens"] == 32 and body["temperature"] == 0.8  # the chat dialect keeps sampling


@pytest.mark.parametrize(("dialect", "channel"), [
    ("deepseek", "reasoning_content"), ("vllm_parser_old", "reasoning_content"), ("vllm_parser", "reasoning"),
    ("r1_template", "template_think"), ("inline", "think_tags"),
])
def test_every_reasoning_channel_is_read_and_named(tmp_path, dialect, channel):
    with FakeOpenAI(answer, dialect=dialect) as fake:
        sample = client(tmp_path, settings(fake.base_url)).samples([request("a")], n=1)[0][0]
    assert sample.channel == channel
    checked = check_response(sample, "5", allow_answer_only=False, min_tokens=1, max_tokens=1000, max_repetition=0.3)
    assert (checked.status, checked.reasoning, checked.final_answer) == ("kept", "Two and three make five.", "5")


def test_channel_of_raw_text():
    assert reasoning_channel("<think>a</think> b", None, None) == "think_tags"
    assert reasoning_channel("a </think> b", None, None) == "template_think"
    assert reasoning_channel("just b", None, None) == "none"
    assert reasoning_channel("b", "reasoning", "  ") == "none"


def test_probe_of_an_open_teacher_reports_channel_n_and_context(tmp_path):
    with FakeOpenAI(answer, dialect="vllm_parser", context_length=32768) as fake:
        found = probe(OpenAIEngine(settings(fake.base_url)))
    assert (found.channel, found.n_honoured, found.context_length, found.requests) == ("reasoning", True, 32768, 1)
    assert found.price is None and found.as_dict()["price"].startswith("unknown")


def test_hidden_reasoning_teacher_is_refused_after_the_probe(tmp_path):
    with FakeOpenAI(answer, dialect="openai_reasoning") as fake:
        llm = client(tmp_path, settings(fake.base_url, "o4-mini"), stage="traces")
        llm.preflight = teacher_preflight("system", allow_answer_only=False)
        with pytest.raises(UserError, match="hides its reasoning") as refused:
            llm.samples([request(str(i)) for i in range(50)], n=4)
        assert len(fake.requests) <= 3  # the probe, not a batch
        assert "\n" not in str(refused.value)


def test_answer_only_opt_out_lets_an_o_series_model_answer(tmp_path):
    with FakeOpenAI(answer, dialect="openai_reasoning") as fake:
        llm = client(tmp_path, settings(fake.base_url, "o4-mini"), stage="traces")
        llm.preflight = teacher_preflight("system", allow_answer_only=True)
        got = llm.samples([request("a")], n=2)
        assert all(s is not None for s in got[0]) and len(fake.requests) == 1  # answers, no probe to refuse


def test_price_table_is_dated_and_unknown_is_never_zero():
    assert PRICES_AS_OF[:4].isdigit()
    assert price_of(EngineSettings(kind="openai", model="o4-mini-2025-04-16")).output_per_mtok > 0
    assert price_of(EngineSettings(kind="openai", model="my-model", base_url="http://x/v1")) is None
    own = price_of(EngineSettings(kind="openai", model="o4-mini", prices={"o4-mini": {"input_per_mtok": 9}}))
    assert own.input_per_mtok == 9


def test_unknown_cost_is_counted_not_summed_as_free(tmp_path, lake):
    with FakeOpenAI(answer) as fake:
        llm = client(tmp_path, settings(fake.base_url, "my-model"))
        llm.samples([request("a")], n=1)
        llm.flush(lake)
    assert llm.stats["requests_cost_unknown"] == 1 and "cost_usd" not in llm.stats
    assert lake.query("SELECT cost_usd FROM llm_calls").column(0).to_pylist() == [None]


def readme_snippets() -> list[dict]:
    import re
    from pathlib import Path

    import yaml

    text = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    section = text.split("### Choosing a teacher", 1)[1].split("\n## ", 1)[0]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def test_choosing_a_teacher_snippets_are_valid_settings_in_the_dialect_they_claim():
    from schemas.difficulty import DifficultySettings
    from schemas.traces import TracesSettings

    snippets = readme_snippets()
    assert len(snippets) == 6
    teachers = [TracesSettings(**s["traces"]).teacher for s in snippets if "traces" in s]
    assert [dialect_of(t) for t in teachers] == ["chat"] * 5
    assert teachers[1].reasoning_parser == "deepseek_r1" and "--tensor-parallel-size" in teachers[1].server_args
    assert price_of(teachers[2]) is not None and teachers[2].budget_usd == 20
    assert teachers[4].params["chat_template_kwargs"] == {"enable_thinking": True}
    base = DifficultySettings(**snippets[-1]["difficulty"]).base
    assert dialect_of(base) == "reasoning" and price_of(base) is not None


def test_local_engine_passes_the_reasoning_parser_and_server_args_to_vllm():
    from tasks.llm.local_engine import server_config

    config = server_config(EngineSettings(kind="local", model="qwq", local_model="/models/qwq", reasoning_parser="deepseek_r1",
                                          server_args=["--max-model-len", "8192", "--enforce-eager"]))
    assert config.model == "/models/qwq" and config.max_model_len == 8192
    assert config.extra_args == ("--enforce-eager", "--reasoning-parser", "deepseek_r1")


def test_run_budget_caps_each_engine_by_what_earlier_stages_left():
    from tasks.llm.budget import Budget, within_run

    engine = EngineSettings(kind="openai", model="o4-mini", budget_usd=3.0)
    assert within_run(engine, None, 9.0) is engine
    assert within_run(engine, 10.0, 8.5).budget_usd == 1.5 and within_run(engine, 10.0, 1.0).budget_usd == 3.0
    spent_all = Budget(within_run(engine, 10.0, 10.0).budget_usd)
    assert spent_all.reserve(priced=True) is None and spent_all.stopped  # nothing left: not one request
    unpriced = Budget(1.0)
    assert unpriced.reserve(priced=False) is None and "no price" in unpriced.message("traces")
