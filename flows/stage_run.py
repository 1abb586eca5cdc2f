"""Flows layer: what every stage flow does around its task: run id, warehouse, run record.

`run_stage` opens the warehouse once, calls the stage's task with (lake, run_id, cache path),
records the run (settings, counters, snapshot, Prefect flow-run id) and returns the report
with the result dict the CLI and the curate flow print. Stage flows stay a few lines each.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.runtime import flow_run
from pydantic import BaseModel

from flows.llm_limits import endpoint_limits
from flows.monitoring import stage_progress
from tasks.runs import new_run_id, now, record_run
from warehouse.home import Home
from warehouse.lake import Lake
from warehouse.runlock import hold_home


def run_stage(
    stage: str,
    settings: BaseModel,
    home: str | None,
    work: Callable[[Lake, str, Path], Any],
    *,
    stats: Callable[[Any], dict] = lambda report: report.as_dict(),
    params: Callable[[Any], dict] | None = None,
) -> tuple[Any, dict]:
    """(the stage's report, {run_id, snapshot_id, **stats, funnel}); `params` defaults to the settings."""
    run_id = new_run_id(stage)
    started = now()
    resolved = Home.resolve(home)
    with hold_home(resolved, f"teachable {stage}"), stage_progress(stage), endpoint_limits(), Lake(resolved) as lake:
        report = work(lake, run_id, resolved.cache / "llm.sqlite")
        counters = {**stats(report), "funnel": report.funnel().as_dict()}
        recorded = params(report) if params else settings.model_dump(mode="json")
        snapshot = record_run(lake, run_id=run_id, stage=stage, started_at=started,
                              params=recorded, stats=counters, flow_run_id=flow_run.id)
    return report, {"run_id": run_id, "snapshot_id": snapshot, **counters}
