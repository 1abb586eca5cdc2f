"""Flows layer: the `maintain` Prefect flow, DuckLake upkeep of one home (merge small files,
expire unreferenced old snapshots, delete unneeded and orphaned files; warehouse.maintenance).

The `maintain-weekly` deployment of prefect.yaml runs it every Sunday; `teachable maintain`
runs the same thing by hand.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from pydantic import Field

from flows.runtime.alerts import ALERT_HOOKS
from flows.runtime.maintenance import run_maintenance
from warehouse.maintenance import MaintainSettings


def summary_markdown(result: dict) -> str:
    rows = [("data files", result["files_before"], result["files_after"]),
            ("bytes", result["bytes_before"], result["bytes_after"]),
            ("snapshots", result["snapshots_before"], result["snapshots_after"])]
    lines = ["# Warehouse maintenance", "", "| | before | after |", "|---|---|---|"]
    lines += [f"| {name} | {before} | {after} |" for name, before, after in rows]
    kept = ", ".join(f"{k} {v}" for k, v in result["kept"].items()) or "none"
    lines += ["", f"Expired {result['expired']} snapshots; old ones kept: {kept}; "
              f"orphaned files deleted: {result['orphans_deleted']}."]
    return "\n".join(lines)


@flow(name="maintain", **ALERT_HOOKS)
def maintain_flow(
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
    settings: Annotated[MaintainSettings, Field(description="Retention, merge, orphan age, dry run.")] = MaintainSettings(),
    lock_wait: Annotated[float | None, Field(description="Seconds to wait if a run holds the home; default $TEACHABLE_LOCK_WAIT or 0.")] = None,
) -> dict:
    result = run_maintenance(home, settings, flow_run_id=flow_run.id, wait=lock_wait)
    create_markdown_artifact(markdown=summary_markdown(result), key="maintain-summary",
                             description=f"Maintenance run {result['run_id']}")
    return result
