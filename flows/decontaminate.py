"""Flows layer: the `decontaminate` Prefect flow around the decontamination stage.

Runs the stage (tasks.decontam.stage) through the stage runner and publishes the hits per
benchmark and method as a table artifact.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import Field

from flows.runtime.alerts import ALERT_HOOKS
from flows.runtime.stage_runner import run_stage
from flows.runtime.task_runners import flow_shards, on_task_runner
from schemas.decontam import DecontamSettings


@flow(name="decontaminate", log_prints=True, **ALERT_HOOKS)
def decontaminate_flow(
    settings: Annotated[DecontamSettings, Field(description="Benchmarks, layers, thresholds, embedding model, judge.")],
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
    task_runner: Annotated[str | None, Field(description="Where chunks run: local (this process, default), "
                                             "threads[:N] or dask://HOST:PORT; set by on_task_runner.")] = None,
) -> dict:
    result = run_stage("decontaminate", settings, home, shards=flow_shards("decontaminate", task_runner)).result
    create_table_artifact(table=result["hits"] or [{"benchmark": "-", "method": "-", "prompts": 0, "new": 0}],
                          key="decontaminate-hits", description=f"Decontamination hits, run {result['run_id']}")
    return result


def subflow(settings: DecontamSettings, home: str | None, task_runner: str | None = None) -> dict:
    return on_task_runner(decontaminate_flow, task_runner)(settings=settings, home=home)
