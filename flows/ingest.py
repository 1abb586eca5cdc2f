"""Flows layer: the `ingest` Prefect flow, a thin wrapper around `tasks.ingest.stage`.

Opens the warehouse once, ingests each configured source as a task, records the run and
publishes a summary table artifact. All logic lives in `tasks/`; this file only orchestrates.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic import Field

from flows.monitoring import stage_progress
from schemas.config import IngestSettings, SourceConfig
from tasks.ingest.stage import IngestReport, ingest_source
from tasks.runs import Funnel, new_run_id, now, record_run
from warehouse.home import Home
from warehouse.lake import Lake
from warehouse.runlock import hold_home


@task(name="ingest-source", cache_policy=NO_CACHE)
def ingest_source_task(lake: Lake, source: SourceConfig, settings: IngestSettings, run_id: str) -> IngestReport:
    report = ingest_source(lake, source, settings, run_id)
    totals = report.totals()
    get_run_logger().info(
        "source %s: read %d, ingested %d, unchanged %d, quarantined %d %s",
        source.name, totals["read"], totals["ingested"], totals["unchanged"],
        totals["quarantined"], totals["quarantine_reasons"] or "",
    )
    return report


def summary_rows(reports: list[IngestReport]) -> list[dict]:
    rows = []
    for report in reports:
        for unit in report.units:
            rows.append({
                "source": report.source, "file": unit.source_file, "read": unit.read,
                "ingested": unit.ingested, "unchanged": unit.unchanged,
                "quarantined": unit.quarantined,
                "reasons": ", ".join(f"{k}={v}" for k, v in sorted(unit.reasons.items())),
            })
    return rows


@flow(name="ingest", log_prints=True)
def ingest_flow(
    sources: Annotated[list[SourceConfig], Field(description="Seed sources to read.")],
    settings: Annotated[IngestSettings, Field(description="Ingest limits and batch size.")] = IngestSettings(),
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
) -> dict:
    run_id = new_run_id("ingest")
    started = now()
    resolved = Home.resolve(home)
    with hold_home(resolved, "teachable ingest"), stage_progress("ingest"), Lake(resolved) as lake:
        reports = [ingest_source_task(lake, source, settings, run_id) for source in sources]
        totals = {k: sum(r.totals()[k] for r in reports) for k in ("read", "ingested", "unchanged", "quarantined")}
        funnel = Funnel.total(r.funnel() for r in reports).as_dict()
        stats = {"totals": totals, "units": [u.as_dict() for r in reports for u in r.units], "funnel": funnel}
        snapshot = record_run(
            lake, run_id=run_id, stage="ingest", started_at=started,
            params={"sources": [s.model_dump() for s in sources], "settings": settings.model_dump()},
            stats=stats, flow_run_id=flow_run.id,
        )
    rows = summary_rows(reports)
    create_table_artifact(table=rows, key="ingest-summary", description=f"Ingest run {run_id}")
    return {"run_id": run_id, "snapshot_id": snapshot, "totals": totals, "files": rows, "funnel": funnel}
