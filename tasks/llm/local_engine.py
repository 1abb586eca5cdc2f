"""Tasks layer (llm): the `local` engine, the bundled vLLM server started for one stage.

Converts SmolLM2-135M-Instruct once (tasks.llm.local_model), starts the OpenAI-compatible
server on a free loopback port, and talks to it through the `openai` engine, so the demo and
ad-hoc runs need no endpoint. Stopped in `close()`; start-up is about 100 s on 2 CPU cores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel

from schemas.llm import EngineSettings
from tasks.llm.gates import EndpointGate
from tasks.llm.local_model import LocalModelServer, ServerSettings, ensure_local_model
from tasks.llm.openai_engine import OpenAIEngine

M = TypeVar("M", bound=BaseModel)


def server_config(settings: EngineSettings) -> ServerSettings:
    """The bundled model (or `local_model`), with the engine's reasoning parser and extra
    `vllm serve` arguments, e.g. `--max-model-len 32768` or `--tensor-parallel-size 2`."""
    extra = list(settings.server_args)
    if settings.reasoning_parser:
        extra += ["--reasoning-parser", settings.reasoning_parser]
    length = {}
    if "--max-model-len" in extra:  # the user's length wins over the bundled default
        at = extra.index("--max-model-len")
        length["max_model_len"] = int(extra[at + 1])
        del extra[at : at + 2]
    return ServerSettings(model=settings.local_model or str(ensure_local_model()), served_name=settings.model,
                        extra_args=tuple(extra), **length)


class LocalServerEngine(OpenAIEngine):
    name = "local"

    def __init__(self, settings: EngineSettings, gate: EndpointGate | None = None):
        self.server = LocalModelServer(server_config(settings))
        self.server.start()
        super().__init__(settings.model_copy(update={"base_url": self.server.base_url}), gate=gate)

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
    server = LocalModelServer(server_config(local[0]))
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


def engines_in(settings: BaseModel) -> list[EngineSettings]:
    """Every EngineSettings inside a settings tree (fields, lists, dicts), in field order."""
    found: list[EngineSettings] = []
    _map_engines(settings, lambda engine: found.append(engine) or engine)
    return found


def with_engines(settings: M, change: Callable[[EngineSettings], EngineSettings]) -> M:
    """A copy of a settings tree with every EngineSettings inside it passed through `change`."""
    return _map_engines(settings, change)


def _map_engines(value: Any, change: Callable[[EngineSettings], EngineSettings]) -> Any:
    if isinstance(value, EngineSettings):
        return change(value)
    if isinstance(value, BaseModel):
        updates = {name: _map_engines(getattr(value, name), change) for name in type(value).model_fields}
        return value.model_copy(update=updates)
    if isinstance(value, (list, tuple)):
        return type(value)(_map_engines(v, change) for v in value)
    if isinstance(value, dict):
        return {k: _map_engines(v, change) for k, v in value.items()}
    return value
