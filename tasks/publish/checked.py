"""Tasks layer (publish): what a release was checked against, stated for the manifest and card.

Pure functions over the stored facts (`runs` of the decontaminate and recheck stages,
`benchmark_items`, `decontam_checked`): which benchmarks (name, file or dataset id, sha256,
item count), which layers and thresholds, and whether the released prompts, rewrites and
answers were checked at all. A release that was not checked says so: `status: skipped`.
"""

from __future__ import annotations

import json

SKIPPED = "skipped"  # no decontaminate run: nothing was checked
PARTIAL = "partial"  # some released prompts were never checked
CHECKED = "checked"

# Settings that are plumbing or secrets' neighbours, not what a check means.
_NOT_LAYERS = {"benchmarks", "batch_size", "embedding_batch_size", "embedding_threads", "judge", "judge_max_pairs"}


def _json(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _settings(params: dict) -> dict:
    settings = params.get("settings", params)
    return settings if isinstance(settings, dict) else {}


def layers(settings: dict) -> dict:
    """Layer switches and thresholds of a decontaminate run (the judge by its model only)."""
    out = {k: v for k, v in sorted(settings.items()) if k not in _NOT_LAYERS}
    judge = settings.get("judge")
    out["judge_model"] = judge.get("model") if isinstance(judge, dict) else None
    return out


def _files(stats: dict) -> dict[str, dict]:
    """Per benchmark, the file or dataset id and its sha256 when the decontaminate run stored them
    (`benchmark_files`: [{name, source, sha256, items}])."""
    files = stats.get("benchmark_files") or []
    return {f["name"]: f for f in files if isinstance(f, dict) and "name" in f}


def benchmarks(inventory: list[dict], stats: dict, specs: list[str]) -> list[dict]:
    files = _files(stats)
    out = []
    for item in inventory:
        stored = files.get(item["benchmark"], {})
        out.append({
            "name": item["benchmark"],
            "source": stored.get("source") or stored.get("path"),
            "sha256": stored.get("sha256"),
            "items": int(item["items"]),
            "items_sha256": item["items_sha256"],
        })
    return out or [{"name": s, "source": s, "sha256": None, "items": 0, "items_sha256": None} for s in specs]


def decontamination(runs: list[dict], inventory: list[dict], unchecked: int, released_prompts: int,
                    siblings: dict[str, int]) -> dict:
    """The manifest's `decontamination` section."""
    decontam = next((r for r in runs if r["stage"] == "decontaminate"), None)
    recheck = next((r for r in runs if r["stage"] == "recheck"), None)
    if decontam is None:
        return {"status": SKIPPED, "reason": "no decontaminate run: nothing was checked against any benchmark",
                "benchmarks": [], "layers": {}, "runs": [], "unchecked_prompts": released_prompts,
                "recheck": {"status": SKIPPED}, "siblings_by_benchmark": siblings}
    params, stats = _json(decontam["params"]), _json(decontam["stats"])
    settings = _settings(params)
    status = PARTIAL if unchecked else CHECKED
    section = {
        "status": status,
        "benchmarks": benchmarks(inventory, stats, list(settings.get("benchmarks") or [])),
        "layers": layers(settings),
        "check_key": params.get("check_key"),
        "runs": [r["run_id"] for r in runs],
        "unchecked_prompts": unchecked,
        "siblings_by_benchmark": siblings,  # prompts with a `sibling` row (dropped by publish)
        # What the decontaminate run found, whatever its policy (keep and review write no rows).
        "sibling_policy": settings.get("sibling_policy"),
        "siblings_found_by_benchmark": stats.get("siblings") or {},
        "recheck": {"status": SKIPPED, "targets": []},
    }
    if status == PARTIAL:
        section["reason"] = f"{unchecked} released prompts were never checked (run decontaminate again)"
    if recheck is not None:
        # The recheck stage checks what is published: accepted rewrites and kept traces' answers.
        section["recheck"] = {"status": CHECKED, "run_id": recheck["run_id"], "targets": ["rewrite", "answer"]}
    return section


def card_lines(section: dict | None) -> list[str]:
    """The card's first lines: whether the set was decontaminated, and against what."""
    if not section or section.get("status") == SKIPPED:
        return ["> **This set is NOT decontaminated.** No decontamination ran: its prompts, rewrites and "
                "answers were not checked against any benchmark. Do not evaluate a model trained on it on "
                "public benchmarks without checking it first.", ""]
    names = ", ".join(f"{b['name']} ({b['items']} items)" for b in section["benchmarks"])
    lines = [f"> **Decontaminated** against {len(section['benchmarks'])} benchmarks: {names}. "
             "Files, sha256, layers and thresholds are in `manifest.json` (`decontamination`)."]
    if section.get("status") == PARTIAL:
        lines.append(f"> **Partly**: {section['unchecked_prompts']} released prompts were never checked.")
    if section.get("recheck", {}).get("status") != CHECKED:
        lines.append("> Rewrites and teacher answers were not rechecked (only the seed problems were).")
    return [*lines, ""]
