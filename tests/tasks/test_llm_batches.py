"""The `openai_batch` engine against a loopback Files + Batches API that follows OpenAI's
documented contract (tests/support/fake_batches.py): partial failure, expiry, SIGKILL."""

import json
import subprocess
import sys

import pytest

from schemas.llm import EngineSettings, LLMRequest, Message
from tasks.llm.client import LLMClient
from tests.support.fake_batches import FakeBatchAPI
from tests.support.fake_openai import FakeOpenAI


def answer(messages, index):
    return f"<think>Think about {messages[-1]['content']}.</think> The answer is \\boxed{{{index % 100}}}."


def requests(count=20) -> list[LLMRequest]:
    return [LLMRequest(messages=(Message(role="user", content=f"q{i}"),), max_tokens=32) for i in range(count)]


def settings(base_url, **more) -> dict:
    return {"kind": "openai_batch", "model": "fake", "base_url": base_url, "api_key_env": "TEACHABLE_TEST_KEY",
            "batch_wait_s": 10, "batch_poll_s": 0.01, **more}


def client(tmp_path, base_url, run_id="r1", **more) -> LLMClient:
    return LLMClient(EngineSettings(**settings(base_url, **more)), tmp_path / "cache.sqlite", run_id=run_id,
                     stage="traces")


def submitted_bodies(api: FakeBatchAPI) -> list[str]:
    """Every request line ever submitted, by its body (custom ids differ between submissions)."""
    return [json.dumps(json.loads(line)["body"]["messages"]) for f in api.files.values() if f["purpose"] == "batch"
            for line in f["content"].decode().splitlines() if line]


def synchronous(tmp_path) -> list:
    with FakeOpenAI(answer) as fake:
        sync = LLMClient(EngineSettings(kind="openai", model="fake", base_url=fake.base_url,
                                        api_key_env="TEACHABLE_TEST_KEY"), tmp_path / "sync.sqlite", run_id="s", stage="t")
        return sync.samples(requests(), n=2)


def test_partial_failure_is_resubmitted_and_every_request_answered_once(tmp_path, lake):
    with FakeBatchAPI(FakeOpenAI(answer), fail_share=0.1) as api:
        llm = client(tmp_path, api.base_url)
        got = llm.samples(requests(), n=2)  # waits: collects, resubmits the failed, collects again
        llm.flush(lake)
    missing = len(api.failed_once)
    assert all(s is not None for row in got for s in row) and 0 < missing < 20
    assert sorted(api.lines_answered) == sorted(set(api.lines_answered)) and len(api.lines_answered) == 20
    assert len(api.batches) == 2 and len(submitted_bodies(api)) == 20 + missing
    assert got == synchronous(tmp_path)  # the same answers as the synchronous engine
    states = lake.query("SELECT batch_ref, status, collected FROM llm_batches WHERE collected").to_pylist()
    assert len(states) == 2 and {s["status"] for s in states} == {"completed"}
    errors = lake.query("SELECT count(*) FROM llm_calls WHERE status = 'error' AND error = 'batch: status 500'")
    assert errors.column(0)[0].as_py() == missing


def test_an_expired_batch_keeps_what_finished_and_resubmits_the_rest(tmp_path):
    with FakeBatchAPI(FakeOpenAI(answer), expire={0}) as api:
        got = client(tmp_path, api.base_url).samples(requests(10), n=1)
    assert all(row[0] is not None for row in got)
    assert [b["status"] for b in api.batches.values()] == ["expired", "completed"]
    assert len(submitted_bodies(api)) == 15 and len(api.lines_answered) == 10


def test_submit_and_return_then_a_later_run_collects(tmp_path):
    with FakeBatchAPI(FakeOpenAI(answer)) as api:
        first = client(tmp_path, api.base_url, batch_wait_s=0).samples(requests(5), n=1)
        assert all(row[0] is None for row in first) and len(api.batches) == 1
        later = client(tmp_path, api.base_url, run_id="r2", batch_wait_s=0)
        assert all(row[0] is None for row in later.samples(requests(5), n=1))  # still in progress: not resubmitted
        assert len(api.batches) == 1
        done = client(tmp_path, api.base_url, run_id="r3").samples(requests(5), n=1)
    assert all(row[0] is not None for row in done) and len(submitted_bodies(api)) == 5


CHILD = """
import sys
from schemas.llm import EngineSettings, LLMRequest, Message
from tasks.llm.client import LLMClient
settings = EngineSettings(**{settings})
requests = [LLMRequest(messages=(Message(role="user", content=f"q{{i}}"),), max_tokens=32) for i in range(20)]
LLMClient(settings, __import__("pathlib").Path({cache!r}), run_id="killed", stage="traces").samples(requests, n=2)
"""


@pytest.mark.parametrize("point", ["llm.batch.uploaded", "llm.batch.created", "llm.batch.collected_file"])
def test_sigkill_anywhere_loses_nothing_and_submits_nothing_twice(tmp_path, point):
    with FakeBatchAPI(FakeOpenAI(answer), fail_share=0.1) as api:
        code = CHILD.format(settings=settings(api.base_url), cache=str(tmp_path / "cache.sqlite"))
        proc = subprocess.run([sys.executable, "-c", code], env={**__import__("os").environ,
                              "TEACHABLE_FAILPOINTS": point}, capture_output=True, text=True, timeout=120)
        assert proc.returncode == -9, proc.stderr[-2000:]
        llm = client(tmp_path, api.base_url, run_id="after")
        got = llm.samples(requests(), n=2)
        got = llm.samples(requests(), n=2) if any(s is None for row in got for s in row) else got
    assert all(s is not None for row in got for s in row)
    assert sorted(api.lines_answered) == sorted(set(api.lines_answered))  # answered once each
    failed = len(api.failed_once)
    lost_upload = 20 if point == "llm.batch.uploaded" else 0  # an orphan file, never a batch
    assert len(submitted_bodies(api)) == 20 + failed + lost_upload
    assert len(api.batches) == 2  # the killed submission was adopted or made once, plus one for the failures
    assert got == synchronous(tmp_path)


def test_batches_collect_command_stores_finished_batches(tmp_path):
    import yaml

    from tasks.llm.cache import ResponseCache
    from tests.support.cli import run_cli

    home = tmp_path / "home"
    with FakeBatchAPI(FakeOpenAI(answer)) as api:
        submit = LLMClient(EngineSettings(**settings(api.base_url, batch_wait_s=0)), home / "cache" / "llm.sqlite",
                           run_id="r", stage="traces")
        submit.samples(requests(4), n=1)  # submitted only
        submit.close()
        config = tmp_path / "cfg.yaml"
        config.write_text(yaml.safe_dump({"name": "b", "sources": [{"name": "s", "paths": ["x.jsonl"]}],
                                          "traces": {"teacher": settings(api.base_url, batch_wait_s=0)}}))
        printed = []
        for _ in range(4):  # validating -> in_progress -> finalizing -> completed, one step per look
            proc = run_cli(None, "--home", str(home), "batches", "collect", str(config), cwd=tmp_path, timeout=120)
            assert proc.returncode == 0, proc.stderr[-2000:]
            printed.append(proc.stdout.strip())
    assert printed == ["fake: 0 batches collected, 0 samples stored, 1 still open"] * 2 + [
        "fake: 1 batches collected, 4 samples stored, 0 still open", "fake: 0 batches collected, 0 samples stored, 0 still open"]
    cache = ResponseCache(home / "cache" / "llm.sqlite")
    assert len(cache.get_many([submit.keys(r, 1)[0] for r in requests(4)])) == 4
