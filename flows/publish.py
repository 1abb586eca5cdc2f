"""Flows layer: the `publish` Prefect flow, a thin wrapper around tasks.publish.

Opens the warehouse (holding its write lock, so one publish at a time), writes the release or
finds it unchanged, records the run and publishes a summary artifact. The Prefect flow-run id
goes into the release manifest.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic import Field

from schemas.publish import PublishSettings
from tasks.publish.stage import PublishReport, run_publish
from tasks.runs import new_run_id, now, record_run
from warehouse.home import Home
from warehouse.lake import Lake
from warehouse.runlock import hold_home


@task(name="write-release", cache_policy=NO_CACHE)
def publish_task(lake: Lake, name: str, settings: PublishSettings, run_id: str,
                 flow_run_id: str | None) -> PublishReport:
    report = run_publish(lake, name, settings, run_id=run_id, flow_run_id=flow_run_id)
    verb = "published" if report.created else "unchanged, still"
    get_run_logger().info("%s %s@v%d: %d rows, sha256 %s", verb, name, report.version, report.rows, report.sha256[:12])
    return report


def summary_markdown(report: PublishReport) -> str:
    stats = report.stats
    lines = [
        f"# {report.name}@v{report.version}" + ("" if report.created else " (unchanged: nothing written)"),
        "", f"{report.rows} records, sha256 `{report.sha256}`, snapshot {report.snapshot_id}", "",
        f"`{report.path}`", "", "| by | value | records |", "|---|---|---|",
    ]
    for dimension in ("source", "domain", "band", "teacher"):
        lines += [f"| {dimension} | {k} | {v} |" for k, v in stats.get(f"by_{dimension}", {}).items()]
    dropped = stats.get("dropped", {})
    lines += ["", "Left out: " + (", ".join(f"{k} {v}" for k, v in dropped.items()) or "nothing")]
    return "\n".join(lines)


@flow(name="publish")
def publish_flow(
    name: Annotated[str, Field(description="Release name: releases/<name>/v<N>/.")],
    settings: Annotated[PublishSettings, Field(description="System prompt, filters, mixture, shard size, license.")] = PublishSettings(),
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
) -> dict:
    run_id = new_run_id("publish")
    started = now()
    resolved = Home.resolve(home)
    with hold_home(resolved, f"teachable publish {name}"), Lake(resolved) as lake:
        report = publish_task(lake, name, settings, run_id, flow_run.id)
        funnel = report.funnel().as_dict()
        snapshot = record_run(lake, run_id=run_id, stage="publish", started_at=started,
                              params={"name": name, **settings.model_dump(mode="json")},
                              stats={**{k: v for k, v in report.as_dict().items() if k != "run_id"},
                                     "funnel": funnel},
                              flow_run_id=flow_run.id)
    create_markdown_artifact(markdown=summary_markdown(report), key="publish-summary",
                             description=f"Release {name}@v{report.version}, run {run_id}")
    return {**report.as_dict(), "run_snapshot_id": snapshot, "funnel": funnel}
