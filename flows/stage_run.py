"""Flows layer: what every stage flow does around its task: run id, warehouse, run record.

`run_stage` opens the warehouse once, calls the stage's task with (lake, run_id, cache path),
records the run (settings, counters, snapshot, Prefect flow-run id) and returns the result
dict the CLI and the curate flow print. Stage flows stay a few lines each.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prefect.runtime import flow_run
from pydantic import BaseModel

from tasks.runs import new_run_id, now, record_run
from warehouse.home import Home
from warehouse.lake import Lake


def run_stage(stage: str, settings: BaseModel, home: str | None, work: Callable[[Lake, str, Path], object]) -> dict:
    run_id = new_run_id(stage)
    started = now()
    resolved = Home.resolve(home)
    with Lake(resolved) as lake:
        report = work(lake, run_id, resolved.cache / "llm.sqlite")
        stats = report.as_dict()
        snapshot = record_run(lake, run_id=run_id, stage=stage, started_at=started,
                              params=settings.model_dump(mode="json"), stats=stats, flow_run_id=flow_run.id)
    return {"run_id": run_id, "snapshot_id": snapshot, **stats}
