"""Flows layer (runtime): LLM endpoint limits as Prefect global concurrency limits.

When a Prefect server is present (PREFECT_API_URL set), every request to an endpoint holds a
slot of the global concurrency limit `llm-<endpoint>-<model>` (created on first use with the
engine's max_concurrency; change it in the UI or with `prefect gcl update` and every run
obeys), and, if the engine has requests_per_minute, a rate limit `<name>-rpm` whose slots
decay at rpm/60 per second. Without a server the engines' own per-process limits apply.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import concurrency, rate_limit
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import PREFECT_API_URL

OPT_OUT = "TEACHABLE_PREFECT_LIMITS"
LEASE_S = 60.0


class PrefectEndpointGate:
    def __init__(self) -> None:
        self.ensured: set[str] = set()

    async def _ensure(self, name: str, limit: int, decay: float | None = None) -> None:
        if name in self.ensured:
            return
        async with get_client() as client:
            try:
                await client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                try:
                    fields = {"slot_decay_per_second": decay} if decay else {}
                    await client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=name, limit=limit, **fields))
                except ObjectAlreadyExists:
                    pass  # another run created it first: theirs (or the operator's) wins
        self.ensured.add(name)

    @asynccontextmanager
    async def slot(self, name: str, concurrency_limit: int, requests_per_minute: float | None) -> AsyncIterator[None]:
        await self._ensure(name, concurrency_limit)
        if requests_per_minute:
            per_minute = max(1, int(requests_per_minute))
            await self._ensure(f"{name}-rpm", per_minute, per_minute / 60.0)
            await rate_limit(f"{name}-rpm", occupy=1, strict=True)
        # A killed run cannot release its slots; the shortest lease the server takes (60 s)
        # bounds how long they stay occupied (the server's repossessor frees expired leases).
        async with concurrency(name, occupy=1, strict=True, lease_duration=LEASE_S):
            yield


def server_present() -> bool:
    """A Prefect server to share limits through, unless TEACHABLE_PREFECT_LIMITS=0 opts out."""
    return bool(PREFECT_API_URL.value()) and os.environ.get(OPT_OUT, "1").strip() != "0"


def endpoint_gate() -> PrefectEndpointGate | None:
    """The gate a stage's engines share limits through: Prefect's when a server is present."""
    return PrefectEndpointGate() if server_present() else None
