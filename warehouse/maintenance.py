"""Warehouse layer: DuckLake upkeep, so files and snapshots do not pile up forever.

Stages commit every few dozen prompts, one snapshot and a few small Parquet files each. Upkeep,
in DuckLake's own order (its CHECKPOINT runs the same functions), on a writer `Lake` whose
caller holds the home's run lock:

1. merge adjacent small files (`ducklake_merge_adjacent_files`); merged files keep each row's
   snapshot range, so time travel to any kept snapshot still reads the same rows;
2. expire snapshots older than the retention, except those a release (`dataset_versions`) or a
   recent run (`runs`: the latest of each stage, and any in the retention window) references,
   and the current one;
3. delete the files no kept snapshot needs any more (`ducklake_cleanup_old_files`);
4. delete orphaned files: in the data folder but in no snapshot, e.g. those a writer killed
   with SIGKILL left between writing a file and committing it (`ducklake_delete_orphaned_files`).
   On a DuckDB-file catalog the run lock and the exclusive catalog keep every writer out, so
   all of them go; on a shared PostgreSQL catalog another home may be mid-write, so only
   files older than `orphan_age_hours`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from warehouse.lake import CATALOG, Lake, sql_literal


class MaintainSettings(BaseModel):
    retention_days: float = Field(7.0, ge=0, description="Expire snapshots older than this (days) unless referenced.")
    merge: bool = Field(True, description="Merge adjacent small data files.")
    orphan_age_hours: float = Field(24.0, ge=0, description="On a PostgreSQL catalog, orphans younger than this stay.")
    dry_run: bool = Field(False, description="Count what would go; change nothing.")


@dataclass
class MaintenanceReport:
    files_before: int
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    snapshots_before: int = 0
    snapshots_after: int = 0
    merged_tables: int = 0
    expired: int = 0
    kept: dict[str, int] = field(default_factory=dict)  # why snapshots older than the retention stay
    deleted_files: int = 0
    orphans_deleted: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def data_files(lake: Lake) -> list[Path]:
    root = Path(lake.home.data_path(lake.binding))
    return [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []


def snapshots(lake: Lake) -> list[tuple[int, datetime]]:
    return [(int(s), t) for s, t in lake.con.execute(
        f"SELECT snapshot_id, snapshot_time FROM {CATALOG}.snapshots() ORDER BY 1").fetchall()]


def referenced(lake: Lake, since: datetime) -> dict[int, str]:
    """Snapshots that must stay readable, with why: every release's, the latest run of each
    stage's and every run's that started within the retention."""
    keep: dict[int, str] = {}
    for (snapshot,) in lake.con.execute(
            "SELECT DISTINCT snapshot_id FROM dataset_versions WHERE snapshot_id IS NOT NULL").fetchall():
        keep[int(snapshot)] = "release"
    for (snapshot,) in lake.con.execute(
            "SELECT DISTINCT snapshot_id FROM runs WHERE snapshot_id IS NOT NULL AND (started_at >= ? OR "
            "started_at = (SELECT max(r.started_at) FROM runs r WHERE r.stage = runs.stage))", [since]).fetchall():
        keep.setdefault(int(snapshot), "recent run")
    return keep


def expirable(lake: Lake, retention: timedelta) -> tuple[list[int], dict[str, int]]:
    """Snapshots older than the retention that nothing references, and how many old ones stay, by reason."""
    now = datetime.now(UTC)
    since = now - retention
    keep = referenced(lake, since)
    listed = snapshots(lake)
    current = listed[-1][0] if listed else None
    expire, kept = [], {}
    for snapshot, taken in listed:
        if _aware(taken) >= since:
            continue
        reason = "current" if snapshot == current else keep.get(snapshot)
        if reason:
            kept[reason] = kept.get(reason, 0) + 1
        else:
            expire.append(snapshot)
    return expire, kept


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def maintain(lake: Lake, settings: MaintainSettings) -> MaintenanceReport:
    """Merge, expire, clean up and remove orphans (see the module docstring); returns the counts."""
    before = data_files(lake)
    report = MaintenanceReport(files_before=len(before), bytes_before=sum(p.stat().st_size for p in before),
                               snapshots_before=len(snapshots(lake)), dry_run=settings.dry_run)
    expire, report.kept = expirable(lake, timedelta(days=settings.retention_days))
    report.expired = len(expire)
    lit = sql_literal(CATALOG)
    if settings.dry_run:
        report.orphans_deleted = len(_orphans(lake, settings, dry_run=True))
    else:
        if settings.merge:
            report.merged_tables = len(lake.con.execute(f"CALL ducklake_merge_adjacent_files({lit})").fetchall())
        if expire:
            lake.con.execute(f"CALL ducklake_expire_snapshots({lit}, versions => [{', '.join(map(str, expire))}])")
        report.deleted_files = len(lake.con.execute(
            f"CALL ducklake_cleanup_old_files({lit}, cleanup_all => true)").fetchall())
        report.orphans_deleted = len(_orphans(lake, settings, dry_run=False))
    after = data_files(lake)
    report.files_after, report.bytes_after = len(after), sum(p.stat().st_size for p in after)
    report.snapshots_after = len(snapshots(lake))
    return report


def _orphans(lake: Lake, settings: MaintainSettings, dry_run: bool) -> list[tuple]:
    lit = sql_literal(CATALOG)
    dry = ", dry_run => true" if dry_run else ""
    if lake.binding.is_postgres:
        older = f"now() - INTERVAL {sql_literal(f'{settings.orphan_age_hours} hours')}"
        return lake.con.execute(f"CALL ducklake_delete_orphaned_files({lit}, older_than => {older}{dry})").fetchall()
    return lake.con.execute(f"CALL ducklake_delete_orphaned_files({lit}, cleanup_all => true{dry})").fetchall()
