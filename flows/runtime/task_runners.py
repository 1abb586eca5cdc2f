"""Flows layer (runtime): where a stage's CPU-heavy shards run, chosen with `--task-runner`.

`parse` turns `local` (the stage's own process pool), `threads[:N]` or `dask://HOST:PORT` into
a Prefect task runner (None for local); a bad value or an unreachable scheduler is a UserError.
`on_task_runner` gives the stage flow to call; inside it `flow_shards` gives the stage a
`ShardMapper` that submits one Prefect task per shard to the flow's task runner.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from prefect import Flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.runtime.runner_spec import check, kind_of, threads_of
from schemas.errors import UserError
from tasks.shards import default_workers

T = TypeVar("T")


def parse(spec: str | None) -> TaskRunner | None:
    """The task runner a `--task-runner` value names; None for `local` (and no value)."""
    kind, address = check(spec), (spec or "").strip().replace("dask://", "tcp://", 1)
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=threads_of(address))
    if kind == "dask":
        from prefect_dask import DaskTaskRunner  # imported here: distributed is slow to import

        return DaskTaskRunner(address=address)
    return None


def on_task_runner(stage_flow: Flow, spec: str | None) -> Callable[..., Any]:
    """`stage_flow` as it is for `local`, else a copy on the spec's task runner that is told
    (its `task_runner` parameter) to send its shards there."""
    runner = parse(spec)
    if runner is None:
        return stage_flow
    return partial(stage_flow.with_options(task_runner=runner), task_runner=spec)


def flow_shards(stage: str, spec: str | None) -> "TaskRunnerShards | None":
    """Inside a stage flow: the mapper for its `task_runner` parameter (None: local pool)."""
    kind = kind_of(spec)
    if kind == "local":
        return None
    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    if runner is None or _kind(runner) != kind:
        # A flow called directly with the parameter would silently map on its default runner.
        raise UserError(f"the {stage} flow was given task_runner={spec!r} but does not run on it: "
                        "call it through flows.runtime.task_runners.on_task_runner")
    return TaskRunnerShards(stage, runner, _api_for_workers(kind, runner, context))


def _api_for_workers(kind: str, runner: TaskRunner, context: FlowRunContext) -> str | None:
    """The Prefect API URL Dask workers on this machine should report to, if they would not
    know it: workers get the flow's settings, not its client, so with no PREFECT_API_URL set
    each one would start its own temporary Prefect server (about 15 s) and record its task runs
    there instead of beside the flow run. Remote workers cannot reach a loopback server."""
    if kind != "dask" or PREFECT_API_URL.value():
        return None
    host = urlsplit(runner.address).hostname or ""
    return str(context.client.api_url) if host in ("127.0.0.1", "localhost", "::1") else None


def _kind(runner: TaskRunner) -> str:
    if isinstance(runner, ThreadPoolTaskRunner):
        return "threads"
    from prefect_dask import DaskTaskRunner

    return "dask" if isinstance(runner, DaskTaskRunner) else type(runner).__name__


class Boxed:
    """A shard's arguments in a box that neither Prefect nor Dask looks into: both would walk
    every text of the shard (for futures, for graph keys), and Dask rebuilds tuples, which
    breaks Prefect's own `quote` box (a namedtuple)."""

    __slots__ = ("args",)

    def __init__(self, args: tuple):
        self.args = args

    def __dask_tokenize__(self) -> int:
        return id(self)  # instead of hashing the data: the key carries the task run id anyway


@task(cache_policy=NO_CACHE)
def shard_task(fn: Callable[..., Any], boxed: Boxed) -> Any:
    """One shard of a stage's CPU work, on whichever worker the task runner picks."""
    return fn(*boxed.args)


class TaskRunnerShards:
    """A `ShardMapper` over a flow's task runner: one task run per shard, results in input
    order, at most two shards per worker slot in flight so memory stays bounded."""

    def __init__(self, stage: str, runner: TaskRunner, api_url: str | None = None):
        self.stage, self.runner, self.api_url = stage, runner, api_url

    def map(self, fn: Callable[..., Any], items: Iterable[tuple[T, tuple]]) -> Iterator[tuple[T, Any]]:
        named = shard_task.with_options(name=f"{self.stage}-{fn.__name__}")
        window, in_flight = deque(), 2 * self._slots()
        for tag, args in items:
            with self._worker_settings():
                window.append((tag, named.submit(fn, Boxed(args))))
            if len(window) >= in_flight:
                yield self._result(*window.popleft())
        while window:
            yield self._result(*window.popleft())

    def _worker_settings(self) -> AbstractContextManager:
        # Entered around each submit only: the settings travel with the task's context, and a
        # context held open across this generator's yields would leak into the caller.
        return temporary_settings({PREFECT_API_URL: self.api_url}) if self.api_url else nullcontext()

    @staticmethod
    def _result(tag: T, future: Any) -> tuple[T, Any]:
        return tag, future.result()

    def _slots(self) -> int:
        """Shards the runner works on at once: its threads, or the Dask cluster's threads."""
        if isinstance(self.runner, ThreadPoolTaskRunner):
            return max(1, min(self.runner._max_workers, 64))  # unbounded by default
        client = getattr(self.runner, "client", None)
        threads = sum(client.nthreads().values()) if client is not None else 0
        return max(1, threads or default_workers())
