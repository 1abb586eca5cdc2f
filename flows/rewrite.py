"""Flows layer: the `rewrite` Prefect flow around the rewrite stage (tasks.rewrite)."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import Field

from flows.runtime.alerts import ALERT_HOOKS
from flows.runtime.stage_runner import run_stage
from schemas.traces import RewriteSettings


@flow(name="rewrite", **ALERT_HOOKS)
def rewrite_flow(
    settings: Annotated[RewriteSettings, Field(description="Rewriter engine, attempts, checks.")] = RewriteSettings(),
    home: Annotated[str | None, Field(description="Warehouse home.")] = None,
) -> dict:
    result = run_stage("rewrite", settings, home).result
    rows = [{"status": "accepted", "reason": "-", "prompts": result["accepted"]}]
    rows += [{"status": "rejected", "reason": k, "prompts": v} for k, v in sorted(result["rejected"].items())]
    create_table_artifact(table=rows, key="rewrite-outcomes", description=f"Rewrites, run {result['run_id']}")
    return result


def subflow(settings: RewriteSettings, home: str | None, _task_runner: str | None = None) -> dict:
    return rewrite_flow(settings=settings, home=home)
