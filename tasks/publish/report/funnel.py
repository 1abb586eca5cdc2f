"""Tasks layer (publish, report): the stage funnel (in, kept, dropped by reason) from a release manifest.

Reads only `manifest["stages"]` (whole-warehouse counts when the release was cut) and
`manifest["release"]` (the publish step itself). Units differ by stage (records, prompts,
rewrites, responses), so each step names its unit. Pure; older manifests work the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEPT_BAND = "teachable"  # difficulty keeps the prompts at the edge of the base model's ability


@dataclass
class Step:
    stage: str
    unit: str
    seen: int  # "in"
    kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    note: str = ""  # e.g. "skipped": the step did not run, its in = kept means nothing was checked

    def as_row(self) -> dict:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())) or "-"
        if self.note:
            reasons = self.note
        return {"stage": self.stage, "unit": self.unit, "in": self.seen, "kept": self.kept,
                "dropped": sum(self.dropped.values()), "reasons": reasons}


def _step(stage: str, unit: str, seen: int, kept: int, dropped: dict[str, int]) -> Step:
    """Drops with a count; whatever `in - kept` the reasons do not explain shows as `other`."""
    dropped = {k: int(v) for k, v in dropped.items() if v}
    rest = seen - kept - sum(dropped.values())
    if rest > 0:
        dropped["other"] = rest
    return Step(stage, unit, int(seen), int(kept), dropped)


def _bands(difficulty: dict, model: str | None) -> dict[str, int]:
    """`model/band` counts -> band counts of the model the release used (all models if none)."""
    bands: dict[str, int] = {}
    for key, count in difficulty.get("by_model_band", {}).items():
        scored_by, _, band = key.rpartition("/")
        if model is None or scored_by == model:
            bands[band] = bands.get(band, 0) + count
    return bands


def funnel(manifest: dict) -> list[Step]:
    stages, release = manifest.get("stages", {}), manifest.get("release", {})
    prompts = stages.get("prompts", {}).get("total", 0)
    quarantine = stages.get("quarantine", {})
    duplicates = stages.get("duplicates", {}).get("by_method", {})
    unique = prompts - sum(duplicates.values())
    contaminated = stages.get("contamination", {}).get("prompts", 0)
    bands = _bands(stages.get("difficulty", {}), manifest.get("difficulty_model"))
    rewrites, traces = stages.get("rewrites", {}), stages.get("traces", {})
    rewrite_status, trace_status = rewrites.get("by_status", {}), traces.get("by_status", {})
    decontam = _step("decontaminate", "prompts", unique, max(0, unique - contaminated), {"contaminated": contaminated})
    if (manifest.get("decontamination") or {}).get("status") == "skipped":
        decontam.note = "skipped: no decontamination ran, the set is NOT decontaminated"
    return [
        _step("ingest", "records", prompts + quarantine.get("total", 0), prompts, quarantine.get("by_reason", {})),
        _step("dedup", "prompts", prompts, unique, duplicates),
        decontam,
        _step("difficulty", "prompts", sum(bands.values()), bands.get(KEPT_BAND, 0),
              {b: n for b, n in bands.items() if b != KEPT_BAND}),
        _step("rewrite", "rewrites", sum(rewrite_status.values()), rewrite_status.get("accepted", 0),
              rewrites.get("by_reason", {})),
        _step("traces", "responses", sum(trace_status.values()), trace_status.get("kept", 0),
              traces.get("by_reason", {})),
        _step("publish", "kept traces", release.get("candidates", 0), manifest.get("rows", 0),
              release.get("dropped", {})),
    ]
