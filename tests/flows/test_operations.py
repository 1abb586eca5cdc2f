"""Prefect-native operations: keys from Secret blocks, failure notifications through a block.

Real Prefect server (the session harness), the real `teachable` command in a subprocess."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
import yaml

from tests.support.cli import run_cli
from tests.support.fake_openai import FakeOpenAI
from tests.support.oracle import oracle, procedural_answers

SPEC = "procedural://?n=6&seed=3&levels=1-2"


class Webhook:
    """A loopback HTTP endpoint that records every request body (the alert's receiver)."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def config(path: Path, engine: dict | None = None, missing: bool = False) -> Path:
    data = {"name": "ops", "sources": [{"name": "procedural", "paths": [str(path.parent / "missing.jsonl") if missing else SPEC]}]}
    if engine:
        data["difficulty"] = {"base": engine, "n": 2, "max_tokens": 64}
    path.write_text(yaml.safe_dump(data))
    return path


def test_failed_flow_run_sends_exactly_one_notification(prefect_harness, webhook, tmp_path):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    # Prefect's documented template keys: {{subject}}, {{body}}, {{name}}.
    CustomWebhookNotificationBlock(name="teachable alerts", url=webhook.url,
                                   json_data={"subject": "{{subject}}", "text": "{{body}}"}).save("teachable-alerts",
                                                                                                 overwrite=True)
    failing = config(tmp_path / "failing.yaml", missing=True)
    proc = run_cli(prefect_harness, "--home", str(tmp_path / "home"), "run", str(failing), "--stages", "ingest",
                   cwd=tmp_path, timeout=300, TEACHABLE_NOTIFY_BLOCK="custom-webhook/teachable-alerts")
    assert proc.returncode == 2, proc.stderr
    # The ingest subflow failed and so did its parent curate run: one failure, one message.
    assert len(webhook.received) == 1, webhook.received
    message = json.loads(webhook.received[0])
    assert message["subject"].startswith("teachable: curate run ") and message["subject"].endswith("Failed")
    assert "missing.jsonl" in message["text"]

    # A run that succeeds sends nothing; an unset block sends nothing.
    ok = config(tmp_path / "ok.yaml")
    proc = run_cli(prefect_harness, "--home", str(tmp_path / "home"), "run", str(ok), "--stages", "ingest",
                   cwd=tmp_path, timeout=300, TEACHABLE_NOTIFY_BLOCK="custom-webhook/teachable-alerts")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(prefect_harness, "--home", str(tmp_path / "home"), "run", str(failing), "--stages", "ingest",
                   cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert len(webhook.received) == 1


def test_api_key_from_a_secret_block_reaches_the_endpoint_and_nothing_else(prefect_harness, tmp_path):
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client

    canary = "sk-secretblock-" + "Z" * 28
    Secret(value=canary).save("teachable-canary-key", overwrite=True)
    home = tmp_path / "home"
    # The fake refuses a request without this exact bearer key, as OpenAI does (401 invalid_api_key).
    with FakeOpenAI(oracle(procedural_answers(SPEC)), api_key=canary) as fake:
        engine = {"kind": "openai", "base_url": fake.base_url, "model": "oracle",
                  "api_key_env": "TEACHABLE_NO_SUCH_KEY", "api_key_secret": "teachable-canary-key"}
        cfg = config(tmp_path / "secret.yaml", engine)
        proc = run_cli(prefect_harness, "--home", str(home), "run", str(cfg), "--stages", "ingest,difficulty",
                       cwd=tmp_path, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert fake.requests, "the difficulty stage never reached the endpoint"
    assert canary not in proc.stdout + proc.stderr
    for path in tmp_path.rglob("*"):  # warehouse, Parquet, LLM cache, release-free home
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        logs = client.read_logs()
    assert runs and all(canary not in json.dumps(r.parameters, default=str) for r in runs)
    assert any("teachable-canary-key" in json.dumps(r.parameters, default=str) for r in runs)  # the name, only
    assert all(canary not in log.message for log in logs)


def test_secret_block_mistakes_are_one_line(prefect_harness, tmp_path):
    engine = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_secret": "no-such-block"}
    cfg = config(tmp_path / "nosecret.yaml", engine)
    proc = run_cli(prefect_harness, "--home", str(tmp_path / "home"), "run", str(cfg), "--stages", "ingest,difficulty",
                   cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")] == [
        "error: no Prefect Secret block named 'no-such-block' (api_key_secret): create it with "
        "`prefect block create secret` or Secret(value=...).save('no-such-block')"], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_credentials_in_base_url_are_refused_without_echoing_them(tmp_path):
    leaked = "sk-inurl-" + "Y" * 20
    for url in (f"https://user:{leaked}@api.example.com/v1", f"https://api.example.com/v1?api_key={leaked}"):
        proc = run_cli(None, "--home", str(tmp_path / "home"), "difficulty", "--engine", "openai", "--base-url", url,
                       "--model", "m", cwd=tmp_path, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "base_url must not hold credentials" in proc.stderr
        assert leaked not in proc.stdout + proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
