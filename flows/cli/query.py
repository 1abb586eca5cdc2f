"""Flows layer (cli): `teachable sql` and `teachable status`, read-only, without Prefect."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def sql_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="SQL; tables are in the current schema (SELECT * FROM prompts).")],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    no_files: Annotated[bool, typer.Option("--no-files", envvar="TEACHABLE_SQL_NO_FILES",
                                           help="Only the warehouse's tables: reading local files is refused too.")] = False,
) -> None:
    """Run a read-only SQL query against the warehouse (statements that write anything are refused)."""
    from flows.cli.common import home_of
    from flows.cli.console import print_arrow
    from warehouse.home import Home
    from warehouse.lake import Lake, run_read_only

    with Lake(Home.resolve(home_of(ctx)), read_only=True) as lake:
        print_arrow(run_read_only(lake, query, allow_files=not no_files), format.value)


def status_command(ctx: typer.Context) -> None:
    """Rows per table, the last runs, and how to open the warehouse with plain DuckDB."""
    from flows.cli.common import home_of
    from flows.cli.console import out, print_rows
    from schemas.tables import TABLES
    from warehouse.home import Home
    from warehouse.lake import Lake, duckdb_lines
    from warehouse.run_queries import last_runs

    home = Home.resolve(home_of(ctx))
    with Lake(home, read_only=True) as lake:
        print_rows([{"table": m.__table__, "rows": lake.count(m.__table__)} for m in TABLES], title=f"warehouse {home.root}")
        print_rows(last_runs(lake), title="last runs")
        out.print("Open it with DuckDB (Python):")
        for line in duckdb_lines(home):
            out.print(f"  {line}", highlight=False, soft_wrap=True)
