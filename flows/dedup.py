"""Flows layer: the `dedup` Prefect flow around the dedup stage (tasks.dedup.stage).

Runs the stage through the stage runner and publishes a summary table artifact. With a
`task_runner` (set by `flows.runtime.task_runners.on_task_runner`) every shard is its own task
run on that runner, Dask included.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import Field

from flows.runtime.alerts import ALERT_HOOKS
from flows.runtime.stage_runner import run_stage
from flows.runtime.task_runners import flow_shards, on_task_runner
from schemas.dedup import DedupSettings


@flow(name="dedup", log_prints=True, **ALERT_HOOKS)
def dedup_flow(
    settings: Annotated[DedupSettings, Field(description="Dedup thresholds, shingling, LSH and embedding settings.")] = DedupSettings(),
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
    task_runner: Annotated[str | None, Field(description="Where shards run: local (worker processes, default), "
                                             "threads[:N] or dask://HOST:PORT; set by on_task_runner.")] = None,
) -> dict:
    result = run_stage("dedup", settings, home, shards=flow_shards("dedup", task_runner)).result
    create_table_artifact(table=result["summary"], key="dedup-summary", description=f"Dedup run {result['run_id']}")
    return result


def subflow(settings: DedupSettings, home: str | None, task_runner: str | None = None) -> dict:
    return on_task_runner(dedup_flow, task_runner)(settings=settings, home=home)
