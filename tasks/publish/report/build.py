"""Tasks layer (publish, report): `render_report(manifest)` -> HTML; `write_report` for `teachable report`.

The report is a function of the release directory alone: the manifest's counts and `stats`;
a release published before `stats` existed gets the same distributions from its shards.
It is a derived view: never listed in the manifest, never part of the aggregate hash.
"""

from __future__ import annotations

from pathlib import Path

from schemas.errors import UserError
from tasks.publish.compare import flatten, parse_ref
from tasks.publish.stats import COLUMNS, release_stats
from tasks.publish.report import charts
from tasks.publish.report.funnel import funnel
from tasks.publish.report.page import Charts, key_table, page, rows_table
from warehouse.home import Home
from warehouse.releases import (
    MANIFEST,
    REPORT,
    read_manifest,
    read_release_columns,
    replace_derived_file,
    version_dir,
    versions_on_disk,
)

MIX = ("source", "domain", "band", "teacher")


def overview(m: dict) -> dict[str, object]:
    release = m.get("release", {})
    return {
        "dataset": f"{m['name']}@v{m['version']}", "name": m["name"], "version": m["version"],
        "rows": m["rows"], "prompts": release.get("prompts"), "rewritten rows": release.get("rewritten_rows"),
        "teacher tokens": release.get("tokens"), "kept traces considered": release.get("candidates"),
        "sha256": m["sha256"], "snapshot": m.get("snapshot_id"), "created": m.get("created_at"),
        "code version": m.get("code_version"), "run": m.get("run_id"), "flow run": m.get("flow_run_id"),
        "difficulty model": m.get("difficulty_model"), "manifest format": m.get("format"),
    }


def _funnel_section(m: dict, out: Charts) -> str:
    steps = funnel(m)
    counts = {k: ("none" if isinstance(v, dict) else v) for k, v in flatten(m.get("stages", {})).items()}
    return (out.html("funnel", charts.funnel_figure(steps))
            + rows_table("funnel", [s.as_row() for s in steps], row_key="stage", title="in = kept + dropped")
            + "<details><summary>Every per-stage count in the manifest</summary>"
            + key_table("stage-counts", counts) + "</details>")


def _pass_rate_section(stats: dict, out: Charts) -> str:
    pass_rate = stats.get("pass_rate", {})
    rows = [{"pass rate": f"{b['from']:.1f}–{b['to']:.1f}", "prompts": b["prompts"]}
            for b in pass_rate.get("bins", [])]
    rows.append({"pass rate": "unscored", "prompts": pass_rate.get("unscored", 0)})
    return out.html("pass-rate", charts.pass_rate_figure(pass_rate)) + rows_table("pass-rate", rows)


def _mix_section(m: dict, out: Charts) -> str:
    release = m.get("release", {})
    tables = "".join(key_table(f"by-{d}", release.get(f"by_{d}", {}), title=f"records by {d}") for d in MIX)
    figure = charts.mix_figure(release.get("by_source", {}), release.get("by_domain", {}))
    return out.html("mix", figure) + f'<div class="tables">{tables}</div>'


def _tokens_section(stats: dict, out: Charts) -> str:
    tokens = stats.get("tokens", {})
    keys = ("min", "median", "p90", "max", "mean", "unknown")
    return out.html("tokens", charts.tokens_figure(tokens)) + key_table("tokens", {k: tokens.get(k) for k in keys})


def _contamination_section(m: dict, stats: dict, out: Charts) -> str:
    detections = m.get("stages", {}).get("contamination", {}).get("by_benchmark_method", {})
    rows = [{"benchmark": k.rpartition("/")[0], "method": k.rpartition("/")[2], "detections": v}
            for k, v in detections.items()]
    html = (out.html("contamination", charts.contamination_figure(detections))
            + "<p>Whole warehouse when the release was cut; contaminated prompts are never released.</p>"
            + rows_table("contamination", rows))
    prompts = stats.get("contamination", {}).get("prompts_by_benchmark")
    if prompts is not None:
        html += key_table("contaminated-prompts", prompts, title="prompts flagged, by benchmark")
    return html


def _student_section(m: dict, stats: dict, out: Charts) -> str:
    lengths = stats.get("student_tokens", {})
    keys = ("min", "median", "p90", "max", "mean", "limit", "over_limit")
    student = m.get("student") or {}
    dropped = m.get("release", {}).get("dropped", {}).get("too_long_for_student", 0)
    return (out.html("student-lengths", charts.student_lengths_figure(lengths))
            + key_table("student-lengths", {k: lengths.get(k) for k in keys}
                        | {"tokenizer": student.get("tokenizer"), "left out (too_long_for_student)": dropped}))


def _checked_section(m: dict) -> str:
    section = m.get("decontamination") or {"status": "skipped"}
    html = key_table("decontamination", {"status": section.get("status"), "why": section.get("reason", "-"),
                                         "unchecked prompts": section.get("unchecked_prompts"),
                                         "rewrites and answers": section.get("recheck", {}).get("status")})
    html += rows_table("benchmarks-checked", section.get("benchmarks", []), title="benchmarks checked")
    siblings = section.get("siblings_by_benchmark") or {}
    html += key_table("siblings", siblings, title="benchmark siblings (prompts), by benchmark")
    return html


def _mixture_section(m: dict) -> str:
    mixture = m.get("mixture") or {}
    rows = [{"group": g, "asked": ", ".join(f"{k} {v}" for k, v in v["asked"].items()),
             "available rows": v["available"]["rows"], "rows": v["achieved"]["rows"],
             "tokens": v["achieved"]["tokens"], "share": v["achieved"]["share"],
             "spare traces": v["achieved"]["spare_traces"], "repeats": v["achieved"]["repeats"]}
            for g, v in mixture.get("groups", {}).items()]
    return rows_table("mixture", rows, row_key="group", title=f"by {mixture.get('by')}, asked vs achieved")


def _files_section(m: dict) -> str:
    files = [{"path": f["path"], "rows": f.get("rows"), "bytes": f["bytes"], "sha256": f["sha256"]}
             for f in m.get("files", [])]
    return (rows_table("files", files, row_key="path")
            + key_table("aggregate", {"aggregate sha256": m["sha256"]})
            + f"<p>{REPORT} itself is a derived view: not listed, not hashed, not checked by "
            "<code>teachable datasets verify</code>.</p>")


def render_report(manifest: dict, stats: dict | None = None) -> str:
    """The self-contained HTML page; `stats` defaults to the manifest's own section."""
    stats = manifest.get("stats", {}) if stats is None else stats
    out = Charts()
    sections = [
        ("Release", key_table("overview", overview(manifest))),
        ("Stage funnel", _funnel_section(manifest, out)),
        ("Pass rate of the released prompts", _pass_rate_section(stats, out)),
        ("Source and domain mix", _mix_section(manifest, out)),
        ("Token lengths of the released rows", _tokens_section(stats, out)),
        ("Student lengths against the limit", _student_section(manifest, stats, out)),
        ("Mixture", _mixture_section(manifest)),
        ("What was checked", _checked_section(manifest)),
        ("Contamination", _contamination_section(manifest, stats, out)),
        ("Files", _files_section(manifest)),
    ]
    title = f"{manifest['name']}@v{manifest['version']}"
    subtitle = f"teachable release report: {manifest['rows']} rows, sha256 {manifest['sha256']}"
    return page(title, subtitle, sections)


def report_stats(manifest: dict, path: Path) -> dict:
    """The manifest's `stats`, or (releases published before it existed) the same from the shards."""
    if "stats" in manifest:
        return manifest["stats"]
    return release_stats(read_release_columns(path, COLUMNS))


def release_path(home: Home, ref: str) -> Path:
    """The directory of NAME@V; a bad reference or a missing release is a one-line UserError."""
    name, version = parse_ref(ref, need_version=True)
    path = version_dir(home, name, version)
    if (path / MANIFEST).is_file():
        return path
    known = versions_on_disk(home, name)
    has = (f"{name} has " + ", ".join(f"v{v}" for v in known)) if known else f"nothing published as {name!r}"
    raise UserError(f"no release {name}@v{version} in {home.releases} ({has})")


def write_report(home: Home, ref: str, out: Path | None = None) -> Path:
    """(Re)generate NAME@V's report: beside its card, or at `out`. Returns the file written."""
    path = release_path(home, ref)
    manifest = read_manifest(path)
    html = render_report(manifest, report_stats(manifest, path))
    if out is None:
        return replace_derived_file(path, REPORT, html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
