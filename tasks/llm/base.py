"""Tasks layer (llm): what every engine takes and returns.

A `Job` is one request that still needs `len(keys)` samples (the cached ones are already
removed). An engine calls `on_samples(job, keys, samples, call)` as soon as samples arrive, so
the client can persist them before anything else can fail, and `on_call(call)` for attempts
that produced nothing (retries, errors).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from schemas.errors import UserError
from schemas.llm import LLMRequest
from tasks.llm.cache import Sample


class LLMFatalError(UserError):
    """A request the endpoint will never accept (bad key, bad request): stop, do not retry."""


@dataclass
class Job:
    request: LLMRequest
    keys: list[str]


SamplesCallback = Callable[[Job, list[str], list[Sample], dict], None]
CallCallback = Callable[[dict], None]


class Engine(Protocol):
    name: str
    model: str

    def run(self, jobs: list[Job], on_samples: SamplesCallback, on_call: CallCallback) -> None: ...

    def close(self) -> None: ...


def split_tokens(total: int, texts: list[str]) -> list[int]:
    """Per-sample completion tokens when an API reports only the total for all n choices."""
    if not texts:
        return []
    lengths = [max(len(t), 1) for t in texts]
    whole = sum(lengths)
    shares = [total * n // whole for n in lengths]
    shares[-1] += total - sum(shares)
    return shares


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion from sync code, even when this thread already has a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(factory())
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="teachable-llm")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")
