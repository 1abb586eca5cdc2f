"""Tasks layer (llm): limits shared by every process that calls one endpoint.

Each engine bounds its own concurrency and request rate; several runs, Dask workers or
deployments calling one endpoint need a limit they share. The flows layer hands a gate backed
by Prefect global concurrency limits to the stage context (and so to each engine) when a
Prefect server is present; without one the per-process limits are all there is.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol


class EndpointGate(Protocol):
    def slot(self, name: str, concurrency: int, requests_per_minute: float | None) -> "AsyncIterator[None]": ...


def limit_name(base_url: str | None, model: str) -> str:
    """e.g. 'llm-127.0.0.1-8000-v1-smollm2': one shared limit per endpoint and model."""
    raw = f"{base_url or 'api.openai.com'}-{model}".removeprefix("http://").removeprefix("https://")
    return "llm-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-")


@asynccontextmanager
async def endpoint_slot(gate: EndpointGate | None, name: str, concurrency: int,
                        requests_per_minute: float | None) -> AsyncIterator[None]:
    if gate is None:
        yield
        return
    async with gate.slot(name, concurrency, requests_per_minute):
        yield
