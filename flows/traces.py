"""Flows layer: the `traces` Prefect flow around the traces stage (tasks.traces)."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import Field

from flows.runtime.alerts import ALERT_HOOKS
from flows.runtime.stage_runner import run_stage
from schemas.traces import TracesSettings


@flow(name="traces", **ALERT_HOOKS)
def traces_flow(
    settings: Annotated[TracesSettings, Field(description="Teacher engine, K, filters.")] = TracesSettings(),
    home: Annotated[str | None, Field(description="Warehouse home.")] = None,
) -> dict:
    result = run_stage("traces", settings, home).result
    rows = [{"status": "kept", "reason": "-", "responses": result["kept"]}]
    rows += [{"status": "dropped", "reason": k, "responses": v} for k, v in sorted(result["dropped"].items())]
    create_table_artifact(table=rows, key="traces-filters", description=f"Traces, run {result['run_id']}")
    return result


def subflow(settings: TracesSettings, home: str | None, _task_runner: str | None = None) -> dict:
    return traces_flow(settings=settings, home=home)
