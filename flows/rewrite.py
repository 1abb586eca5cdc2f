"""Flows layer: the `rewrite` Prefect flow (tasks.rewrite does the work)."""

from __future__ import annotations

from typing import Annotated

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.stage_run import run_stage
from schemas.traces import RewriteSettings
from tasks.rewrite.stage import run_rewrite


@task(name="rewrite-prompts", cache_policy=NO_CACHE)
def rewrite_task(lake, settings: RewriteSettings, run_id: str, cache_path):
    return run_rewrite(lake, settings, run_id, cache_path)


@flow(name="rewrite")
def rewrite_flow(
    settings: Annotated[RewriteSettings, Field(description="Rewriter engine, attempts, checks.")] = RewriteSettings(),
    home: Annotated[str | None, Field(description="Warehouse home.")] = None,
) -> dict:
    _, result = run_stage("rewrite", settings, home, lambda lake, run_id, cache: rewrite_task(lake, settings, run_id, cache))
    rows = [{"status": "accepted", "reason": "-", "prompts": result["accepted"]}]
    rows += [{"status": "rejected", "reason": k, "prompts": v} for k, v in sorted(result["rejected"].items())]
    create_table_artifact(table=rows, key="rewrite-outcomes", description=f"Rewrites, run {result['run_id']}")
    return result
