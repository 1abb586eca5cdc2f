"""Tasks layer: run ids and the `runs` table every stage writes once per run.

A run row carries the stage's settings and counters as JSON and the DuckLake snapshot its
data produced, so `SELECT * FROM runs` answers "what happened, when, with which settings".
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

from schemas.records import Run
from warehouse.lake import Lake


def new_run_id(stage: str) -> str:
    return f"{stage}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def now() -> datetime:
    return datetime.now(UTC)


def record_run(
    lake: Lake,
    *,
    run_id: str,
    stage: str,
    started_at: datetime,
    params: dict,
    stats: dict,
    status: str = "completed",
    flow_run_id: str | None = None,
) -> int:
    """Write the run row in its own snapshot; returns the snapshot of the run's data."""
    data_snapshot = lake.current_snapshot()
    run = Run(
        run_id=run_id,
        stage=stage,
        flow_run_id=flow_run_id,
        started_at=started_at,
        finished_at=now(),
        status=status,
        params=json.dumps(params, default=str, sort_keys=True),
        stats=json.dumps(stats, default=str, sort_keys=True),
        snapshot_id=data_snapshot,
    )
    with lake.transaction():
        lake.insert_records([run])
    return data_snapshot
