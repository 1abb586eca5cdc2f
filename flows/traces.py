"""Flows layer: the `traces` Prefect flow (tasks.traces does the work)."""

from __future__ import annotations

from typing import Annotated

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.stage_run import run_stage
from schemas.traces import TracesSettings
from tasks.traces.stage import run_traces


@task(name="teacher-traces", cache_policy=NO_CACHE)
def traces_task(lake, settings: TracesSettings, run_id: str, cache_path):
    return run_traces(lake, settings, run_id, cache_path)


@flow(name="traces")
def traces_flow(
    settings: Annotated[TracesSettings, Field(description="Teacher engine, K, filters.")] = TracesSettings(),
    home: Annotated[str | None, Field(description="Warehouse home.")] = None,
) -> dict:
    _, result = run_stage("traces", settings, home, lambda lake, run_id, cache: traces_task(lake, settings, run_id, cache))
    rows = [{"status": "kept", "reason": "-", "responses": result["kept"]}]
    rows += [{"status": "dropped", "reason": k, "responses": v} for k, v in sorted(result["dropped"].items())]
    create_table_artifact(table=rows, key="traces-filters", description=f"Traces, run {result['run_id']}")
    return result
