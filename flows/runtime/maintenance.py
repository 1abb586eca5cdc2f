"""Flows layer (runtime): one recorded maintenance run (Prefect-free, shared by the CLI and the flow).

Holds the home's run lock (no stage writes meanwhile), labels the snapshots it makes, runs
warehouse.maintenance and records a `runs` row (stage `maintain`) with its counts.
"""

from __future__ import annotations

from tasks.runs import new_run_id, now, record_run
from warehouse.home import Home
from warehouse.lake import Lake
from warehouse.maintenance import MaintainSettings, maintain
from warehouse.runlock import hold_home


def run_maintenance(home: str | None, settings: MaintainSettings, flow_run_id: str | None = None,
                    wait: float | None = None) -> dict:
    run_id = new_run_id("maintain")
    started = now()
    resolved = Home.resolve(home)
    with hold_home(resolved, "teachable maintain", wait), Lake(resolved) as lake:
        lake.label(f"maintain run {run_id}", stage="maintain", run_id=run_id, flow_run_id=flow_run_id)
        report = maintain(lake, settings)
        if settings.dry_run:
            return {"run_id": None, **report.as_dict()}
        snapshot = record_run(lake, run_id=run_id, stage="maintain", started_at=started,
                              params=settings.model_dump(mode="json"), stats=report.as_dict(), flow_run_id=flow_run_id)
    return {"run_id": run_id, "snapshot_id": snapshot, **report.as_dict()}
