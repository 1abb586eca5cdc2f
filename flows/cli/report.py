"""Flows layer (cli): `teachable report NAME@V`, the HTML report of an existing release.

Reads only the release directory (no Prefect run, no warehouse connection), so it also gives
a report to releases published before reports existed. Heavy modules are imported inside
the body so `teachable --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME@V", help="Release, e.g. mathmix@v2.")],
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write here instead of the release's report.html.")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open the report in a web browser.")] = False,
    home: Annotated[Optional[str], typer.Option("--home", help="Warehouse home (default: the global --home, "
                                                "$TEACHABLE_HOME or ./.teachable).")] = None,
) -> None:
    """(Re)generate a release's self-contained HTML report (charts and counts) and print its path."""
    import webbrowser

    from flows.cli.common import home_of
    from flows.cli.console import out as console
    from tasks.publish.report.build import write_report
    from warehouse.home import Home

    chosen = home if home is not None else home_of(ctx)
    path = write_report(Home.resolve(chosen), ref, out).resolve()
    console.print(str(path), highlight=False, soft_wrap=True, markup=False)
    if open_:
        webbrowser.open(path.as_uri())
