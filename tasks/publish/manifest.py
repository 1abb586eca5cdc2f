"""Tasks layer (publish): the release manifest (what, from where, made how) and the code version.

The manifest is written to `manifest.json` and stored verbatim in `dataset_versions.manifest`;
the stored text is what `datasets verify` trusts. Keys are sorted so the text is canonical.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from functools import cache
from importlib import metadata
from pathlib import Path

from schemas.publish import PublishSettings

# Bump when the manifest's shape changes (2: `stats`, distributions for the report; 3:
# `decontamination`, `mixture`, `student`, student token lengths).
FORMAT = 3
REPO = Path(__file__).resolve().parents[2]


@cache
def code_version() -> str:
    """`git describe` of the checkout when there is one, else the installed package version."""
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty", "--tags"],
            capture_output=True, text=True, timeout=10,
        )
        if result.returncode == 0 and result.stdout.strip():
            return f"git:{result.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass  # no git, or not a checkout: fall through to the package version
    try:
        return f"teachable=={metadata.version('teachable')}"
    except metadata.PackageNotFoundError:
        return "unknown"


def build_manifest(
    *,
    name: str,
    version: int,
    created_at: datetime,
    settings: PublishSettings,
    run_id: str,
    flow_run_id: str | None,
    snapshot_id: int,
    difficulty_model: str | None,
    stats: dict,
    lineage: list[dict],
    stage_counts: dict,
    distributions: dict,
    files: list[dict],
    sha256: str,
    decontamination: dict | None = None,
    mixture: dict | None = None,
    student: dict | None = None,
) -> dict:
    return {
        "format": FORMAT,
        "name": name,
        "version": version,
        "created_at": created_at.isoformat(),
        "code_version": code_version(),
        "run_id": run_id,
        "flow_run_id": flow_run_id,
        "snapshot_id": snapshot_id,
        "config": settings.model_dump(mode="json"),
        "difficulty_model": difficulty_model,
        "rows": stats["rows"],
        "release": stats,
        "sources": lineage,
        "stages": stage_counts,
        "stats": distributions,
        "decontamination": decontamination,
        "mixture": mixture,
        "student": student,
        "files": sorted(files, key=lambda f: f["path"]),
        "sha256": sha256,
    }


def manifest_text(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
