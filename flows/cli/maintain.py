"""Flows layer (cli): `teachable maintain`, DuckLake upkeep of the home (warehouse.maintenance)."""

from __future__ import annotations

from typing import Annotated

import typer


def command(
    ctx: typer.Context,
    retention_days: Annotated[float, typer.Option(
        help="Expire snapshots older than this many days, except those a release or a recent run references.")] = 7.0,
    merge: Annotated[bool, typer.Option(help="Merge adjacent small data files.")] = True,
    orphan_age_hours: Annotated[float, typer.Option(
        help="PostgreSQL catalog: delete orphaned files only when older than this (another home may be mid-write).")] = 24.0,
    dry_run: Annotated[bool, typer.Option(help="Count what would go; change nothing.")] = False,
) -> None:
    """Merge small data files, expire old unreferenced snapshots, delete unneeded and orphaned files.

    Holds the home's run lock: no stage writes meanwhile. Releases and their snapshots stay."""
    from flows.cli.common import home_of, prefect_server_configured, run_flow
    from flows.cli.console import out, print_rows
    from warehouse.maintenance import MaintainSettings

    settings = MaintainSettings(retention_days=retention_days, merge=merge, orphan_age_hours=orphan_age_hours,
                                dry_run=dry_run)
    home = home_of(ctx)

    def start() -> dict:
        if prefect_server_configured():
            from flows.maintain import maintain_flow

            return maintain_flow(home=home, settings=settings)
        from flows.runtime.maintenance import run_maintenance

        return run_maintenance(home, settings)

    result = run_flow(start, home)
    print_rows([{"": name, "before": result[f"{key}_before"], "after": result[f"{key}_after"]}
                for name, key in (("data files", "files"), ("bytes", "bytes"), ("snapshots", "snapshots"))],
               title="maintenance" + (" (dry run: nothing changed)" if dry_run else ""))
    kept = ", ".join(f"{k} {v}" for k, v in result["kept"].items()) or "none"
    verb = "would expire" if dry_run else "expired"
    out.print(f"{verb} {result['expired']} snapshots (older ones kept: {kept}); orphaned files "
              f"{'found' if dry_run else 'deleted'}: {result['orphans_deleted']}", highlight=False, soft_wrap=True)
