"""Flows layer (cli): `teachable batches collect`, Batch API answers into the cache now."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import user_errors

app = typer.Typer(help="OpenAI Batch API submissions (engines of kind openai_batch).", no_args_is_help=True)


@app.command("collect")
@user_errors
def collect_command(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Pipeline config YAML naming the openai_batch engines.")],
) -> None:
    """Download every finished batch's output and error files into the response cache (once);
    failed or expired requests are sent again by the next run of their stage."""
    from flows.cli.common import home_of
    from flows.cli.console import out
    from schemas.config import load_config
    from schemas.errors import UserError
    from tasks.llm.client import LLMClient
    from tasks.llm.local_engine import engines_in
    from tasks.runs import new_run_id
    from warehouse.home import Home
    from warehouse.lake import Lake
    from warehouse.runlock import hold_home

    engines = {e.model_dump_json(): e for e in engines_in(load_config(config)) if e.kind == "openai_batch"}
    if not engines:
        raise UserError(f"{config}: no engine of kind openai_batch")
    home = Home.resolve(home_of(ctx))
    with hold_home(home, "teachable batches collect"), Lake(home) as lake:
        for settings in engines.values():
            client = LLMClient(settings, home.cache / "llm.sqlite", run_id=new_run_id("batches"), stage="batches")
            try:
                done, still_open = client.collect_batches()
                client.flush(lake)
            finally:
                client.close()
            out.print(f"{settings.model}: {done} batches collected, {client.stats['samples_generated']} samples "
                      f"stored, {still_open} still open", highlight=False)
