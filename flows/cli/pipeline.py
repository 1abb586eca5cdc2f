"""Flows layer (cli): `teachable run CONFIG.yaml`, the curate flow over the whole pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer


def command(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Pipeline config YAML.")],
    stages: Annotated[Optional[str], typer.Option(help="Comma-separated subset of stages (default: all).")] = None,
    wait: Annotated[Optional[float], typer.Option(
        help="If another run holds the home, wait up to this many seconds (default: refuse at once, "
             "or $TEACHABLE_LOCK_WAIT).")] = None,
    task_runner: Annotated[Optional[str], typer.Option(
        help="Where CPU stages' shards run: local (worker processes), threads[:N] or dask://HOST:PORT.")] = None,
    dry_run: Annotated[bool, typer.Option(
        help="Print each LLM stage's requests, cached samples, tokens and cost against the home as it is now; "
             "send and write nothing.")] = False,
) -> None:
    """Run the curate flow: every stage of the pipeline config, in order.

    One run per home at a time: a second run refuses with the first one's pid unless --wait."""
    from flows.cli.common import home_of, run_flow
    from flows.curate import curate_flow
    from flows.runtime.task_runners import parse as task_runner_of
    from schemas.config import load_config
    from tasks.stage import choose
    from warehouse.home import Home
    from warehouse.lake import bind_catalog

    pipeline = load_config(config)
    chosen = choose([s.strip() for s in stages.split(",") if s.strip()] if stages else None)
    if dry_run:
        from flows.cli.dryrun import estimate_stages, print_estimates
        from tasks.stage import stage

        print_estimates(estimate_stages(home_of(ctx), [(name, stage(name).settings_of(pipeline)) for name in chosen]))
        return
    # Bind the home to the config's catalog before Prefect starts: a conflict is one line, exit 2.
    bind_catalog(Home.resolve(home_of(ctx)), pipeline.warehouse)
    task_runner_of(task_runner)  # fail fast, before Prefect starts
    outcome = run_flow(lambda: curate_flow(config_path=str(config), stages=chosen, home=home_of(ctx), lock_wait=wait,
                                           task_runner=task_runner), home_of(ctx), wait=wait)
    print_curate(outcome["stages"])
    print_monitoring(outcome)


def print_monitoring(outcome: dict) -> None:
    from flows.cli.console import print_rows

    print_rows(outcome["funnel"], title="funnel (in = kept + dropped)")
    if outcome["llm_usage"]:
        print_rows(outcome["llm_usage"], title="LLM usage")


def print_curate(results: dict[str, Any]) -> None:
    from flows.cli.console import out
    from flows.cli.ingest import print_result as print_ingest

    if "ingest" in results:
        print_ingest(results["ingest"])
    for stage, result in results.items():
        if "skipped" in result:
            out.print(f"[bold]{stage}[/bold]: skipped ({result['skipped']})", highlight=False)
        elif stage not in ("ingest", "publish"):
            counts = {k: v for k, v in result.items() if isinstance(v, (int, dict)) and k not in ("histogram",)}
            out.print(f"[bold]{stage}[/bold] run {result.get('run_id')}: {counts}", highlight=False, soft_wrap=True)
    if "publish" in results:
        release = results["publish"]
        state = "new" if release["created"] else "unchanged, same content as"
        out.print(f"[bold]release[/bold] {release['name']} v{release['version']} ({state}, {release['rows']} rows): "
                  f"{release['path']}", highlight=False, soft_wrap=True)
        out.print(f"dataset card: {release['path']}/README.md", highlight=False, soft_wrap=True)
        out.print(f"report: {release['path']}/report.html", highlight=False, soft_wrap=True)
