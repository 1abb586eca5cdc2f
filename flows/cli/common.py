"""Flows layer (cli): what every command shares: the home option, user errors, running a stage.

A user mistake (UserError, an invalid value) is one line on stderr and exit code 2. A stage
command runs its stage through the stage contract under the home's run lock with a progress
bar: as its Prefect flow when a Prefect server is configured (so it shows in the dashboard),
else directly, recorded in the warehouse's `runs` like any run, without paying for a
temporary Prefect server. Prefect is imported only on the flow path.
"""

from __future__ import annotations

import os
import shlex
import sys
import tomllib
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel, ValidationError

from schemas.errors import UserError

HomeOption = Annotated[
    Optional[str],
    typer.Option("--home", envvar="TEACHABLE_HOME", help="Warehouse home directory (default: ./.teachable)."),
]


def user_errors(command: Callable) -> Callable:
    """Turn a UserError (or invalid flag values) into one line on stderr and exit code 2."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from rich.markup import escape

        from flows.cli.console import err

        try:
            return command(*args, **kwargs)
        except UserError as exc:
            # The text quotes user input (config keys, paths): "[/red]" in it is text, not markup.
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            err.print(f"[red]error:[/red] {escape(where)}: {escape(first['msg'])}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def home_of(ctx: typer.Context) -> str | None:
    """The global --home (sub-commands of a group sit below the root, where it was parsed)."""
    return (ctx.find_root().obj or {}).get("home")


def prefect_server_configured() -> bool:
    """PREFECT_API_URL in the environment or in the active Prefect profile (read without
    importing Prefect, which alone costs about a second)."""
    if os.environ.get("PREFECT_API_URL", "").strip():
        return True
    prefect_home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
    try:
        profiles = tomllib.loads((prefect_home / "profiles.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return bool(str(profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL", "")).strip())


def run_flow(start: Callable[[], dict], home: str | None, wait: float | None = None) -> dict:
    """Run `start` with a progress bar, holding the home's run lock first: a busy home is then
    refused (or waited for) here, in one line, before anything starts; the run re-enters it."""
    from flows.cli.console import BarProgress
    from tasks.progress import use_progress
    from warehouse.home import Home
    from warehouse.runlock import hold_home

    what = "teachable " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    with hold_home(Home.resolve(home), what, wait):
        # Telemetry would try the internet on every ephemeral start; users can still override.
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        if "prefect" in sys.modules:  # a flow is about to run: its user errors stay one line
            from flows.runtime.console_errors import quiet_user_errors

            quiet_user_errors()
        with use_progress(BarProgress()):
            return start()


def run_stage(ctx: typer.Context, name: str, settings: BaseModel, flow: Callable[[], dict]) -> dict:
    """Run stage `name`: as its flow (`flow`) when a Prefect server is configured, else directly
    through the same stage contract, recorded in `runs` all the same."""
    home = home_of(ctx)

    def start() -> dict:
        if prefect_server_configured():
            from flows.runtime.console_errors import quiet_user_errors

            quiet_user_errors()
            return flow()
        from flows.runtime.secrets import refuse_without_server
        from tasks.stage import run_recorded

        refuse_without_server(settings)
        return run_recorded(name, settings, home).result

    return run_flow(start, home)


def run_sharded_stage(ctx: typer.Context, name: str, settings: BaseModel, task_runner: str | None) -> dict:
    """Run a stage whose shards may go to a Prefect task runner (`--task-runner threads|dask://`):
    locally like any stage command, on a task runner through its flow (task runners are Prefect's)."""
    from importlib import import_module

    from flows.runtime.runner_spec import kind_of

    home = home_of(ctx)

    def flow() -> dict:
        return import_module(f"flows.{name}").subflow(settings, home, task_runner)

    if kind_of(task_runner) == "local":
        return run_stage(ctx, name, settings, flow)
    return run_flow(flow, home)
