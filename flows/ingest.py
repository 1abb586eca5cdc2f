"""Flows layer: the `ingest` Prefect flow around the ingest stage (tasks.ingest.stage).

Runs the stage through the stage runner (run lock, warehouse, `runs` row) and publishes a
per-file summary table artifact.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import Field

from flows.runtime.alerts import ALERT_HOOKS
from flows.runtime.stage_runner import run_stage
from schemas.config import IngestJob, IngestSettings, SourceSettings


@flow(name="ingest", log_prints=True, **ALERT_HOOKS)
def ingest_flow(
    sources: Annotated[list[SourceSettings], Field(description="Seed sources to read.")],
    settings: Annotated[IngestSettings, Field(description="Ingest limits and batch size.")] = IngestSettings(),
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
) -> dict:
    result = run_stage("ingest", IngestJob(sources=sources, settings=settings), home).result
    create_table_artifact(table=result["files"], key="ingest-summary", description=f"Ingest run {result['run_id']}")
    return result


def subflow(job: IngestJob, home: str | None, _task_runner: str | None = None) -> dict:
    return ingest_flow(sources=job.sources, settings=job.settings, home=home)
