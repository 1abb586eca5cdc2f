"""Tasks layer: run ids and the `runs` table every stage writes once per run.

A run row carries the stage's settings and counters as JSON and the DuckLake snapshot its
data produced, so `SELECT * FROM runs` answers "what happened, when, with which settings".
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.records import Run
from warehouse.lake import Lake


@dataclass(frozen=True)
class Funnel:
    """What one stage run took in, kept, and dropped by reason (in = kept + dropped).

    Each stage report says this about itself, so the curate funnel reads one shape whatever
    the stage counts (prompts, responses, release rows).
    """

    seen: int
    kept: int
    dropped: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def total(cls, funnels: Iterable[Funnel]) -> Funnel:
        funnels = list(funnels)
        dropped: Counter[str] = Counter()
        for f in funnels:
            dropped.update(f.dropped)
        return cls(sum(f.seen for f in funnels), sum(f.kept for f in funnels), dict(dropped))

    def as_dict(self) -> dict:
        return {"in": int(self.seen), "kept": int(self.kept),
                "dropped": {k: int(v) for k, v in sorted(self.dropped.items()) if v}}


def funnel_row(stage: str, result: dict) -> dict | None:
    """One funnel table row from a stage result's `funnel` (see tasks.runs.Funnel), or None."""
    if "skipped" in result:
        return {"stage": stage, "in": 0, "kept": 0, "dropped": 0, "reasons": f"skipped: {result['skipped']}"}
    funnel = result.get("funnel")
    if funnel is None:
        return None
    dropped = funnel["dropped"]
    return {"stage": stage, "in": funnel["in"], "kept": funnel["kept"], "dropped": sum(dropped.values()),
            "reasons": ", ".join(f"{k} {v}" for k, v in dropped.items()) or "-"}


def funnel_rows(results: dict[str, dict]) -> list[dict]:
    return [row for stage, result in results.items() if (row := funnel_row(stage, result)) is not None]


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
