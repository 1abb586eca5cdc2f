"""Tasks layer (llm): the `local` engine, the bundled vLLM server started for one stage.

Converts SmolLM2-135M-Instruct once (tasks.llm.local_model), starts the OpenAI-compatible
server on a free loopback port, and talks to it through the `openai` engine, so the demo and
ad-hoc runs need no endpoint. Stopped in `close()`; start-up is about 100 s on 2 CPU cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from schemas.llm import EngineSettings
from tasks.llm.local_model import LocalModelServer, ServerConfig, ensure_local_model
from tasks.llm.openai_engine import OpenAIEngine


class LocalServerEngine(OpenAIEngine):
    name = "local"

    def __init__(self, settings: EngineSettings):
        self.server = LocalModelServer(ServerConfig(model=str(ensure_local_model()), served_name=settings.model))
        self.server.start()
        super().__init__(settings.model_copy(update={"base_url": self.server.base_url}))

    def close(self) -> None:
        self.server.stop()


@contextmanager
def shared_local_server(engines: list[EngineSettings]) -> Iterator[str | None]:
    """One bundled server for every engine of kind `local` in a run (one ~100 s start, not
    one per stage); yields its base URL, or None when no engine needs it."""
    local = [e for e in engines if e.kind == "local"]
    if not local:
        yield None
        return
    server = LocalModelServer(ServerConfig(model=str(ensure_local_model()), served_name=local[0].model))
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()


def pointed_at(engine: EngineSettings, base_url: str | None) -> EngineSettings:
    """A `local` engine redirected to an already running bundled server."""
    if engine.kind != "local" or base_url is None:
        return engine
    return engine.model_copy(update={"kind": "openai", "base_url": base_url})
