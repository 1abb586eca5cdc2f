"""Integration fixtures: one real local LLM server (vLLM + SmolLM2-135M-Instruct) per pytest session.

The server starts lazily, only when a test requests ``local_llm_server`` (about 100 s on a 2-core CPU).
"""

from __future__ import annotations

import socket
import time

import pytest

from tasks.llm.local_model import LocalModelServer, ServerSettings, _group_alive, ensure_local_model


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def local_llm_server(tmp_path_factory: pytest.TempPathFactory):
    """A started ``LocalModelServer`` shared by the whole session; stopped (and checked) at the end."""
    model_dir = ensure_local_model()
    log_path = tmp_path_factory.mktemp("vllm") / "server.log"
    # kv_cache_gb=2 -> VLLM_CPU_KVCACHE_SPACE=2 in the server's environment.
    config = ServerSettings(model=str(model_dir), kv_cache_gb=2)
    server = LocalModelServer(config, log_path=log_path, startup_timeout=900)
    t0 = time.monotonic()
    server.start()
    print(f"\n[local_llm_server] ready in {time.monotonic() - t0:.1f} s at {server.base_url} (log: {log_path})")
    try:
        yield server
    finally:
        server.stop()
        # The real server must be gone after stop(): no live process in its group, port closed.
        assert server.process is not None and server.process.returncode is not None
        assert not _group_alive(server.process.pid), "vLLM processes left after stop()"
        assert not _port_open(config.host, server.port), f"port {server.port} still open after stop()"
