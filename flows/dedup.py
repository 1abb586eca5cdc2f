"""Flows layer: the `dedup` Prefect flow, a thin wrapper around `tasks.dedup.stage`.

Opens the warehouse, runs the stage as one task (its shards run in worker processes inside
it), records the run and publishes a summary table artifact. With a `task_runner` (set by
`flows.task_runners.on_task_runner`) every shard is its own task run on that runner, Dask
included. All logic lives in `tasks/`.
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
from flows.task_runners import TaskRunnerShards, flow_shards
from warehouse.lake import Lake


def dedup_logged(
    lake: Lake, settings: DedupSettings, run_id: str, shards: TaskRunnerShards | None = None
) -> DedupReport:
    report = run_dedup(lake, settings, run_id, shards)
    get_run_logger().info(
        "considered %d: kept %d, dropped %s; %d candidate pairs, %d verified, rejected %s",
        report.considered, report.kept, dict(report.dropped), report.candidate_pairs,
        report.verified_pairs, dict(report.rejected) or "{}",
    )
    return report


dedup_task = task(name="dedup-prompts", cache_policy=NO_CACHE)(dedup_logged)


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
    task_runner: Annotated[str | None, Field(description="Where shards run: local (worker processes, default), "
                                             "threads[:N] or dask://HOST:PORT; set by on_task_runner.")] = None,
) -> dict:
    shards = flow_shards("dedup", task_runner)

    def work(lake: Lake, run_id: str, _cache) -> DedupReport:
        if shards is None:
            return dedup_task(lake, settings, run_id)
        # Shards are submitted from the flow, not from inside a task: a task's context (its
        # parameters, the open warehouse among them) would be pickled with every shard.
        return dedup_logged(lake, settings, run_id, shards)

    report, result = run_stage(
        "dedup", settings, home, work,
        stats=DedupReport.totals, params=lambda _report: {"settings": settings.model_dump()},
    )
    rows = summary_rows(report)
    create_table_artifact(table=rows, key="dedup-summary", description=f"Dedup run {result['run_id']}")
    return {"run_id": result["run_id"], "snapshot_id": result["snapshot_id"], "totals": report.totals(), "summary": rows,
            "funnel": result["funnel"]}
