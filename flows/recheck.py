"""Flows layer: the `recheck` Prefect flow around the published-text recheck (tasks.decontam.published).

Runs the stage through the stage runner (after traces, before publish) and publishes the hits
per benchmark, method and target as a table artifact. With a `task_runner` every chunk is its
own task run on that runner, Dask included.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import Field

from flows.runtime.stage_runner import run_stage
from flows.runtime.task_runners import flow_shards, on_task_runner
from schemas.decontam import DecontamSettings


@flow(name="recheck", log_prints=True)
def recheck_flow(
    settings: Annotated[DecontamSettings, Field(description="The decontaminate settings: benchmarks, layers, thresholds.")],
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
    task_runner: Annotated[str | None, Field(description="Where chunks run: local (this process, default), "
                                             "threads[:N] or dask://HOST:PORT; set by on_task_runner.")] = None,
) -> dict:
    result = run_stage("recheck", settings, home, shards=flow_shards("recheck", task_runner)).result
    create_table_artifact(table=result["hits"] or [{"benchmark": "-", "method": "-", "prompts": 0, "new": 0}],
                          key="recheck-hits", description=f"Published-text contamination, run {result['run_id']}")
    return result


def subflow(settings: DecontamSettings, home: str | None, task_runner: str | None = None) -> dict:
    return on_task_runner(recheck_flow, task_runner)(settings=settings, home=home)
