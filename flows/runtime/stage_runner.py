"""Flows layer (runtime): one stage run inside a Prefect flow.

Wraps `tasks.stage.run_recorded` (run lock, warehouse, `runs` row) with what Prefect adds: the
stage's `run` is a task run named after the stage, its progress is mirrored into a progress
artifact, LLM endpoint limits are shared through the Prefect server (a gate in the stage
context), and the flow-run id is recorded. Stage flows add their own artifacts to the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic import BaseModel

from flows.runtime.endpoint_limits import endpoint_gate
from flows.runtime.monitoring import stage_progress
from flows.runtime.secrets import api_keys_for
from tasks.stage import Outcome, Report, StageContext, run_recorded

if TYPE_CHECKING:
    from tasks.shards import ShardMapper


def _logged(run: Callable[[StageContext, BaseModel], Report], ctx: StageContext, settings: BaseModel) -> Report:
    report = run(ctx, settings)
    get_run_logger().info("%s", report.as_dict())
    return report


def _as_task(name: str) -> Callable[..., Report]:
    return task(name=f"{name}-stage", cache_policy=NO_CACHE)(_logged)


def run_stage(name: str, settings: BaseModel, home: str | None, *, shards: ShardMapper | None = None) -> Outcome:
    """Run stage `name` of the registry (tasks.stage.STAGES) as part of the current flow.

    With `shards` (a task runner's mapper) the stage runs in the flow itself: its shards are
    submitted from there, since a task's context (the open warehouse among it) would be
    pickled with every shard."""
    with stage_progress(name):
        return run_recorded(name, settings, home, shards=shards, gate=endpoint_gate(), flow_run_id=flow_run.id,
                            call=_logged if shards is not None else _as_task(name), api_keys=api_keys_for(settings))
