"""Tasks layer (publish): what `teachable datasets list | show | diff | verify` report.

Turns `NAME[@V]` references into `dataset_versions` rows (a bad or unknown one is a one-line
UserError) and those rows into plain lists of dicts the CLI prints. Reads only.
"""

from __future__ import annotations

import json
import re
from datetime import UTC

from schemas.errors import UserError
from schemas.publish import NAME_PATTERN
from warehouse.home import Home
from warehouse.lake import Lake
from warehouse.release_diff import diff_rows
from warehouse.releases import get_version, list_versions, verify_release, version_dir

_REF = re.compile(r"^(?P<name>[^@\s]+)(?:@v?(?P<version>\d+))?$")
DIMENSIONS = ("source", "domain", "band", "teacher")


def parse_ref(text: str, need_version: bool = False) -> tuple[str, int | None]:
    """`name`, `name@2` or `name@v2` -> (name, version or None)."""
    match = _REF.match(text.strip())
    if not match or not NAME_PATTERN.match(match["name"]):
        raise UserError(f"bad dataset reference {text!r}: expected NAME or NAME@V, e.g. mathmix@v2")
    version = int(match["version"]) if match["version"] is not None else None
    if need_version and version is None:
        raise UserError(f"{text!r} names no version: write NAME@V, e.g. {match['name']}@v1")
    return match["name"], version


def resolve(lake: Lake, text: str, need_version: bool = False) -> dict:
    name, version = parse_ref(text, need_version)
    return get_version(lake, name, version)


def listing(lake: Lake) -> list[dict]:
    return [
        {"name": r["name"], "version": f"v{r['version']}", "rows": r["rows"],
         "created": f"{r['created_at'].astimezone(UTC):%Y-%m-%d %H:%M:%SZ}", "sha256": r["sha256"][:12]}
        for r in list_versions(lake)
    ]


def flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict) and value:
        flat: dict[str, object] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def summary(home: Home, row: dict) -> dict[str, list[dict]]:
    """Sections of `datasets show`: overview, release counts, drops, stage counts, sources, files."""
    m = json.loads(row["manifest"])
    release = m["release"]
    overview = {
        "dataset": f"{m['name']}@v{m['version']}", "path": str(version_dir(home, m["name"], m["version"])),
        "created": m["created_at"], "rows": m["rows"], "prompts": release["prompts"], "tokens": release["tokens"],
        "sha256": m["sha256"], "snapshot": m["snapshot_id"], "code": m["code_version"],
        "flow run": m["flow_run_id"] or "-", "difficulty model": m["difficulty_model"] or "-",
    }
    counts = [{"by": d, "value": v, "records": n} for d in DIMENSIONS for v, n in release[f"by_{d}"].items()]
    drops = [{"reason": k, "records": v} for k, v in release["dropped"].items()]
    stages = [{"count": k, "value": v} for k, v in flatten(m["stages"]).items()]
    sources = [{"source": s["source"], "file": s["source_file"], "sha256": (s["content_sha256"] or "-")[:16]}
               for s in m["sources"]]
    files = [{"path": f["path"], "rows": f.get("rows", "-"), "bytes": f["bytes"], "sha256": f["sha256"][:16]}
             for f in m["files"]]
    return {"overview": [{"field": k, "value": v} for k, v in overview.items()], "counts": counts,
            "dropped": drops, "stages": stages, "sources": sources, "files": files}


def diff(home: Home, old: dict, new: dict) -> dict:
    """Rows added/removed/changed by key, per-dimension counts and settings that changed."""
    a, b = json.loads(old["manifest"]), json.loads(new["manifest"])
    counts = []
    for dimension in DIMENSIONS:
        before, after = a["release"][f"by_{dimension}"], b["release"][f"by_{dimension}"]
        for value in sorted(set(before) | set(after)):
            x, y = before.get(value, 0), after.get(value, 0)
            if x != y:
                counts.append({"by": dimension, "value": value, "old": x, "new": y, "change": f"{y - x:+d}"})
    # Publish settings are flat; a dict value (the mixture) is compared and shown whole.
    conf_a = {k: json.dumps(v, sort_keys=True) for k, v in a["config"].items()}
    conf_b = {k: json.dumps(v, sort_keys=True) for k, v in b["config"].items()}
    settings = [{"setting": k, "old": conf_a.get(k, "-"), "new": conf_b.get(k, "-")}
                for k in sorted(set(conf_a) | set(conf_b)) if conf_a.get(k) != conf_b.get(k)]
    sources_a = {(s["source"], s["source_file"], s["content_sha256"]) for s in a["sources"]}
    sources_b = {(s["source"], s["source_file"], s["content_sha256"]) for s in b["sources"]}
    sources = [{"change": sign, "source": s, "file": f, "sha256": (h or "-")[:16]}
               for sign, group in (("+", sources_b - sources_a), ("-", sources_a - sources_b))
               for s, f, h in sorted(group, key=str)]
    files_a = {f["path"]: f["sha256"] for f in a["files"]}
    files_b = {f["path"]: f["sha256"] for f in b["files"]}
    files = [{"path": p, "old": (files_a.get(p) or "-")[:12], "new": (files_b.get(p) or "-")[:12]}
             for p in sorted(set(files_a) | set(files_b)) if files_a.get(p) != files_b.get(p)]
    return {"old": f"{a['name']}@v{a['version']}", "new": f"{b['name']}@v{b['version']}",
            "rows": diff_rows(home, old, new), "old_rows": a["rows"], "new_rows": b["rows"],
            "counts": counts, "settings": settings, "sources": sources, "files": files}


def verify(home: Home, row: dict) -> list[str]:
    return verify_release(home, row)
