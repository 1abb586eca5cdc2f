"""Tasks layer: the shard-mapper contract and its default, a small ordered process pool.

A `ShardMapper` runs a stage's CPU-bound shard work (dedup's signing and verification today);
the stage takes any (flows/ maps shards over Prefect task runners, Dask included) and defaults
to `Workers`: `Workers(n).map(fn, items)` runs `fn(*args)` for each `(tag, args)` item and
yields `(tag, result)` in input order, with at most two items per worker in flight, so memory
stays bounded however many shards there are. With n == 1 everything runs in this process (no
start-up cost for small inputs, and easy to debug). The pool starts lazily on first use and is
shared by every `map` inside one `with` block.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
PRELOAD = ["numpy", "pyarrow", "pyarrow.compute"]  # imported once, in the fork server


class ShardMapper(Protocol):
    """Runs `fn(*args)` for each `(tag, args)` item and yields `(tag, result)` in input order.

    `fn` is a module-level function and `args` plain data (arrays, strings, frozen dataclasses),
    so an implementation may pickle them to other processes or machines. Consuming the results
    lazily lets an implementation bound how many shards are in flight."""

    def map(self, fn: Callable[..., Any], items: Iterable[tuple[T, tuple]]) -> Iterator[tuple[T, Any]]: ...


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _context() -> multiprocessing.context.BaseContext:
    # forkserver, not fork: workers must not inherit the parent's DuckDB, Prefect or rayon
    # threads (a forked rayon pool deadlocks). Preloading the compute libraries in the server
    # makes each worker start with numpy and pyarrow imported (the bulk of the import time; a
    # shard function's own module then takes a few ms). As with any spawn-like start method, a
    # calling *script* needs the `if __name__ == "__main__":` guard.
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


def warm_up(preload: tuple[str, ...] = ()) -> None:
    """Start the fork server now, so its imports overlap with the caller's own work; `preload`
    names modules the workers should start with too (used only if the server is not yet up)."""
    PRELOAD.extend(name for name in preload if name not in PRELOAD)
    context = _context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class Workers:
    def __init__(self, processes: int):
        self.processes = max(1, processes)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[..., Any], items: Iterable[tuple[T, tuple]]) -> Iterator[tuple[T, Any]]:
        if self.processes == 1:
            for tag, args in items:
                yield tag, fn(*args)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.processes, mp_context=_context())
        in_flight: deque = deque()
        for tag, args in items:
            in_flight.append((tag, self._pool.submit(fn, *args)))
            if len(in_flight) >= 2 * self.processes:
                done_tag, future = in_flight.popleft()
                yield done_tag, future.result()
        while in_flight:
            done_tag, future = in_flight.popleft()
            yield done_tag, future.result()
