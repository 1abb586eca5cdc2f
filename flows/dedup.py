"""Flows layer: the `dedup` Prefect flow, a thin wrapper around `tasks.dedup.stage`.

Opens the warehouse, runs the stage as one task (its shards run in worker processes inside
it), records the run and publishes a summary table artifact. All logic lives in `tasks/`.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from schemas.dedup import DedupSettings
from tasks.dedup.stage import DedupReport, run_dedup
from flows.stage_run import run_stage
from warehouse.lake import Lake


@task(name="dedup-prompts", cache_policy=NO_CACHE)
def dedup_task(lake: Lake, settings: DedupSettings, run_id: str) -> DedupReport:
    report = run_dedup(lake, settings, run_id)
    get_run_logger().info(
        "considered %d: kept %d, dropped %s; %d candidate pairs, %d verified, rejected %s",
        report.considered, report.kept, dict(report.dropped), report.candidate_pairs,
        report.verified_pairs, dict(report.rejected) or "{}",
    )
    return report


def summary_rows(report: DedupReport) -> list[dict]:
    dropped = report.totals()["dropped"]
    return [{
        "considered": report.considered, "kept": report.kept, **{f"dropped_{m}": n for m, n in dropped.items()},
        "pool_before": report.pool_before, "candidate_pairs": report.candidate_pairs,
        "verified_pairs": report.verified_pairs,
        "rejected": ", ".join(f"{k}={v}" for k, v in sorted(report.rejected.items())),
    }]


@flow(name="dedup", log_prints=True)
def dedup_flow(
    settings: Annotated[DedupSettings, Field(description="Dedup thresholds, shingling, LSH and embedding settings.")] = DedupSettings(),
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
) -> dict:
    report, result = run_stage(
        "dedup", settings, home, lambda lake, run_id, _cache: dedup_task(lake, settings, run_id),
        stats=DedupReport.totals, params=lambda _report: {"settings": settings.model_dump()},
    )
    rows = summary_rows(report)
    create_table_artifact(table=rows, key="dedup-summary", description=f"Dedup run {result['run_id']}")
    return {"run_id": result["run_id"], "snapshot_id": result["snapshot_id"], "totals": report.totals(), "summary": rows}
