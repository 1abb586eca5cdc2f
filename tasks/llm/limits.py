"""Tasks layer (llm): client-side rate limits (requests and tokens per minute).

Two token buckets refilled continuously; `acquire` waits until both have room. A request
larger than a whole minute's token budget still goes through once the bucket is full, so an
oversized request slows down instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import time


class _Bucket:
    def __init__(self, per_minute: float):
        self.capacity = per_minute
        self.level = per_minute
        self.rate = per_minute / 60.0
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        self._refill()
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= min(amount, self.capacity)


class RateLimiter:
    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None):
        self._requests = _Bucket(requests_per_minute) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute) if tokens_per_minute else None
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        if self._requests is None and self._tokens is None:
            return
        async with self._lock:  # FIFO: one waiter at a time keeps the order fair
            while True:
                waits = []
                if self._requests:
                    waits.append(self._requests.wait_for(1))
                if self._tokens:
                    waits.append(self._tokens.wait_for(tokens))
                delay = max(waits)
                if delay <= 0:
                    break
                await asyncio.sleep(delay)
            if self._requests:
                self._requests.take(1)
            if self._tokens:
                self._tokens.take(tokens)
