"""`teachable maintain`: DuckLake upkeep keeps every release and its time travel, and really shrinks.

200 small commits (as stages make: a few dozen prompts each, one snapshot each), three releases
in between, a file a SIGKILLed ingest left behind; then the real command."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path


from schemas.publish import RELEASE_KEY
from schemas.records import DatasetVersion, Prompt
from tests.support.cli import run_cli
from warehouse.lake import Lake
from warehouse.maintenance import data_files
from warehouse.releases import CARD, MANIFEST, publish_atomically, staged_release

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def prompts(commit: int, n: int = 40) -> list[Prompt]:
    return [Prompt(prompt_id=f"p{commit:03d}-{i:02d}", source="gen", source_file="gen", source_id=str(i),
                   problem=f"What is {commit} + {i}?", answer=str(commit + i), domain="math",
                   text_hash=f"h{commit}-{i}", run_id=f"ingest-{commit}", ingested_at=T0) for i in range(n)]


def release(lake: Lake, name: str, version: int) -> int:
    """A release of the prompts as they are now, recorded with the snapshot it was built from."""
    snapshot = lake.current_snapshot()
    data = lake.query("SELECT prompt_id, 't' AS teacher, 0 AS sample_index, 0 AS repeat, problem AS text FROM prompts")
    with staged_release(lake.home, name, version) as staged:
        staged.write_shards(data, 1000, RELEASE_KEY)
        staged.write_text(CARD, f"# {name}\n")
        manifest = json.dumps({"files": staged.files, "sha256": staged.aggregate()}, sort_keys=True)
        staged.write_text(MANIFEST, manifest, listed=False)
        publish_atomically(lake, staged, DatasetVersion(name=name, version=version, created_at=T0, rows=data.num_rows,
                                                        sha256=staged.aggregate(), manifest=manifest,
                                                        snapshot_id=snapshot))
    return snapshot


def test_maintain_after_200_small_commits(home, tmp_path: Path):
    releases: dict[str, int] = {}
    with Lake(home) as lake:
        for commit in range(200):
            lake.label(f"ingest run ingest-{commit}", stage="ingest", run_id=f"ingest-{commit}")
            with lake.transaction():
                lake.insert_records(prompts(commit))
            if commit in (49, 119, 199):
                releases[f"demo@{len(releases) + 1}"] = release(lake, "demo", len(releases) + 1)
        messages = lake.query("SELECT commit_message FROM lake.snapshots() WHERE commit_message LIKE 'ingest run %'")
        assert messages.num_rows >= 200  # every stage snapshot names its stage and run
        at = {ref: lake.query(f"SELECT prompt_id, answer FROM prompts AT (VERSION => {snap}) ORDER BY 1")
              for ref, snap in releases.items()}
    assert {ref: t.num_rows for ref, t in at.items()} == {"demo@1": 2000, "demo@2": 4800, "demo@3": 8000}

    # A real SIGKILL between writing a batch's Parquet file and committing it.
    killed = run_cli(None, "--home", str(home.root), "ingest", "procedural://?n=300&seed=5", "--source", "killed",
                     "--batch-size", "100", cwd=tmp_path, timeout=300, TEACHABLE_FAILPOINTS="ingest.batch")
    assert killed.returncode == -9, killed.stderr
    with Lake(home, read_only=True) as lake:
        before = len(data_files(lake))
        assert lake.count("prompts") == 8000  # the killed batch is not in the lake, its file is on disk
    assert before >= 200

    proc = run_cli(None, "--home", str(home.root), "maintain", "--retention-days", "0", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with Lake(home, read_only=True) as lake:
        after = len(data_files(lake))
        assert after * 10 <= before, (before, after, proc.stdout)
        for ref, snap in releases.items():  # time travel to every release's snapshot reads the same rows
            assert lake.query(f"SELECT prompt_id, answer FROM prompts AT (VERSION => {snap}) ORDER BY 1").equals(at[ref])
        assert lake.count("prompts") == 8000
        kept = {int(s) for (s,) in lake.con.execute("SELECT snapshot_id FROM lake.snapshots()").fetchall()}
        assert set(releases.values()) <= kept
        assert len(kept) < 50  # the other ~400 old snapshots are gone
        run = lake.query("SELECT stats FROM runs WHERE stage = 'maintain'").to_pylist()
    stats = json.loads(run[0]["stats"]) if len(run) == 1 else {}
    assert stats["orphans_deleted"] >= 1 and stats["files_before"] == before and stats["files_after"] == after
    for ref in releases:
        verified = run_cli(None, "--home", str(home.root), "datasets", "verify", ref, cwd=tmp_path, timeout=120)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    print(f"data files {before} -> {after}; snapshots {stats['snapshots_before']} -> {len(kept)}")  # README figures


def test_dry_run_changes_nothing(home, tmp_path: Path):
    with Lake(home) as lake:
        for commit in range(12):
            with lake.transaction():
                lake.insert_records(prompts(commit))
        files = sorted(data_files(lake))
    proc = run_cli(None, "--home", str(home.root), "maintain", "--retention-days", "0", "--dry-run", cwd=tmp_path,
                   timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "would expire" in proc.stdout
    with Lake(home, read_only=True) as lake:
        assert sorted(data_files(lake)) == files
        assert lake.count("runs") == 0
