"""Flows layer: the `decontaminate` Prefect flow, a thin wrapper around `tasks.decontam.stage`.

Opens the warehouse, runs the stage as one task, records the run (settings without secrets,
counters, snapshot) and publishes the hits per benchmark and method as a table artifact.
All logic lives in `tasks/`.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from schemas.decontam import DecontamSettings
from tasks.decontam.report import DecontamReport
from tasks.decontam.stage import run_decontam
from flows.stage_run import run_stage
from warehouse.lake import Lake


@task(name="decontaminate-prompts", cache_policy=NO_CACHE)
def decontaminate_task(lake: Lake, settings: DecontamSettings, run_id: str) -> DecontamReport:
    report = run_decontam(lake, settings, run_id)
    get_run_logger().info(
        "checked %d (%d checked before): %d contaminated, %d borderline pairs, judged %s; %s prompts/s",
        report.checked, report.already_checked, report.contaminated, report.reviews,
        report.judged or "{}", report.prompts_per_second(),
    )
    return report


def counts(report: DecontamReport) -> dict:
    return {"checked": report.checked, "already_checked": report.already_checked,
            "contaminated": report.contaminated, "reviews": report.reviews, "judged": report.judged,
            "embedded": report.embedded, "rows": report.rows, "benchmarks": report.benchmarks}


@flow(name="decontaminate", log_prints=True)
def decontaminate_flow(
    settings: Annotated[DecontamSettings, Field(description="Benchmarks, layers, thresholds, embedding model, judge.")],
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
) -> dict:
    report, result = run_stage(
        "decontaminate", settings, home, lambda lake, run_id, _cache: decontaminate_task(lake, settings, run_id),
        stats=DecontamReport.stats,
        params=lambda report: {"settings": settings.model_dump(), "check_key": report.check_key},
    )
    create_table_artifact(table=report.hits or [{"benchmark": "-", "method": "-", "prompts": 0, "new": 0}],
                          key="decontaminate-hits", description=f"Decontamination hits, run {result['run_id']}")
    return {"run_id": result["run_id"], "snapshot_id": result["snapshot_id"], "check_key": report.check_key,
            "counts": counts(report), "hits": report.hits, "seconds": report.seconds, "funnel": result["funnel"]}
