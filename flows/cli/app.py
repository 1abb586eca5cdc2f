"""Flows layer (cli): the `teachable` command line (Typer), one module per command group.

Each command validates its input first (a user mistake is one line on stderr and exit 2),
then runs its stage through the stage contract (flows.cli.common.run_stage). Command bodies
import heavy modules lazily, so `--help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from flows.cli import batches, decontaminate, dedup, difficulty, engine, ingest, maintain, model, pipeline, publish, query, report, teacher
from flows.cli.common import HomeOption, user_errors

app = typer.Typer(
    name="teachable",
    help="Turn raw problem pools into verified, versioned SFT sets (Phi-4-reasoning style).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(ctx: typer.Context, home: HomeOption = None) -> None:
    ctx.obj = {"home": home}


# Registration order is the order of `teachable --help`.
COMMANDS = (
    ("ingest", ingest.command),
    ("run", pipeline.command),
    ("sql", query.sql_command),
    ("status", query.status_command),
    ("serve-model", model.serve_command),
    ("check-engine", engine.command),
    ("dedup", dedup.command),
    ("decontaminate", decontaminate.command),
    ("difficulty", difficulty.command),
    ("rewrite", teacher.rewrite_command),
    ("traces", teacher.traces_command),
    ("publish", publish.command),
    ("report", report.command),
    ("maintain", maintain.command),
)
for name, command in COMMANDS:
    app.command(name)(user_errors(command))
app.add_typer(publish.datasets_app, name="datasets")
app.add_typer(batches.app, name="batches")


def entrypoint() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
