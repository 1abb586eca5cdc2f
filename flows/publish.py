"""Flows layer: the `publish` Prefect flow around the publish stage (tasks.publish).

Runs the stage through the stage runner (one publish at a time: the home's run lock), which
writes the release or finds it unchanged, and publishes a summary artifact. The Prefect
flow-run id goes into the release manifest.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from flows.runtime.alerts import ALERT_HOOKS, emit_release_published
from flows.runtime.stage_runner import run_stage
from schemas.publish import PublishJob, PublishSettings
from tasks.publish.stage import PublishReport


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


@flow(name="publish", **ALERT_HOOKS)
def publish_flow(
    name: Annotated[str, Field(description="Release name: releases/<name>/v<N>/.")],
    settings: Annotated[PublishSettings, Field(description="System prompt, filters, mixture, shard size, license.")] = PublishSettings(),
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
) -> dict:
    outcome = run_stage("publish", PublishJob(name=name, **settings.model_dump()), home)
    report = outcome.report
    create_markdown_artifact(markdown=summary_markdown(report), key="publish-summary",
                             description=f"Release {name}@v{report.version}, run {report.run_id}")
    emit_release_published(outcome.result)
    if settings.push:
        outcome.result["push"] = push_task(report.path, settings.push, settings.push_private)
    return outcome.result


@task(name="push-release", cache_policy=NO_CACHE)
def push_task(path: str, repo: str, private: bool) -> dict:
    """Push the release to the Hub; the token is read here, never passed as a parameter."""
    from pathlib import Path

    from tasks.publish.hub import push_release, token_from_env

    pushed = push_release(Path(path), repo, token=token_from_env(), private=private)
    get_run_logger().info("pushed %s to %s (%d files uploaded, %d unchanged)", pushed.tag, repo,
                          len(pushed.uploaded), len(pushed.unchanged))
    return pushed.as_dict()


def subflow(job: PublishJob, home: str | None, _task_runner: str | None = None) -> dict:
    return publish_flow(name=job.name, settings=PublishSettings(**job.model_dump(exclude={"name"})), home=home)
