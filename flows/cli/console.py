"""Flows layer (cli): terminal output (rich tables, progress bars, query results).

Nothing here touches the warehouse or stage logic; it only renders what it is given.
"""

from __future__ import annotations

import csv
import sys

import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichBar
from rich.table import Table

from tasks.progress import Progress
from warehouse.lake import to_json_rows

out = Console()
err = Console(stderr=True)


class BarProgress(Progress):
    """Rich progress bar on stderr; bytes when the total is a file size, else records."""

    def __init__(self) -> None:
        self._bar: RichBar | None = None
        self._task = None

    def start(self, label: str, total: int | None) -> None:
        count = DownloadColumn() if total else MofNCompleteColumn()
        self._bar = RichBar(
            TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), count,
            TextColumn("{task.fields[read]} records"), TimeElapsedColumn(), console=err, transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(label, total=total, read=0)

    def update(self, done: int, **counters: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, **counters)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def print_rows(rows: list[dict], title: str | None = None) -> None:
    if not rows:
        out.print("(no rows)")
        return
    table = Table(title=title)
    for name in rows[0]:
        table.add_column(str(name), overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(table)


def print_arrow(result: pa.Table, fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(to_json_rows(result) + "\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.column_names)
        for row in result.to_pylist():
            writer.writerow(["" if v is None else v for v in row.values()])
    else:
        print_rows(result.to_pylist())
