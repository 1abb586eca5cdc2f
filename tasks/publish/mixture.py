"""Tasks layer (publish): the mixture, a size per source or domain, down or up.

Each group's size comes from its weight (a multiple of what the filters left) or from a
target (rows or student tokens). Down: whole prompts are kept in the order of a salted hash
of prompt_id (weights at most 1 keep exactly the prompts whose hash share is below the
weight, as before), so the same prompts are kept on every run. Up: first more of a prompt's
verified traces (spares: correct answers that `keep: best_of_k` did not keep), then repeats
of the group's records (column `repeat` = 1, 2, ...), in the same stable order. The summary
states what was asked for and what was achieved.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from schemas.publish import PublishSettings

UPSAMPLING = ("more of a prompt's verified traces first (spare traces: correct but not kept), "
              "then repeats of the group's records (column repeat > 0)")


def mixture_share(prompt_id: str, seed: int) -> float:
    """A stable number in [0, 1) per prompt: the mixture keeps it when below the group's weight."""
    digest = hashlib.blake2b(f"{seed}\x1f{prompt_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass
class Mixed:
    records: list[dict]
    dropped: int = 0
    added: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def _size(records: list[dict], unit: str) -> int:
    return len(records) if unit == "rows" else sum(r["student_tokens"] for r in records)


def _order(records: list[dict], seed: int) -> list[dict]:
    return sorted(records, key=lambda r: (mixture_share(r["prompt_id"], seed), r["prompt_id"], r["teacher"],
                                          r["sample_index"]))


def _down(base: list[dict], want: float, unit: str, seed: int) -> list[dict]:
    """Whole prompts in hash order until the group reaches `want`."""
    by_prompt: dict[str, list[dict]] = defaultdict(list)
    for record in _order(base, seed):
        by_prompt[record["prompt_id"]].append(record)
    kept: list[dict] = []
    for group in by_prompt.values():
        if _size(kept, unit) >= want:
            break
        kept += group
    return kept


def _up(base: list[dict], spares: list[dict], want: float, unit: str, seed: int) -> tuple[list[dict], int, int]:
    out, size = list(base), _size(base, unit)
    used = 0
    for spare in _order(spares, seed):
        if size >= want:
            break
        out.append(spare)
        size, used = size + _size([spare], unit), used + 1
    pool, repeats, n = list(_order(out, seed)), 0, 0
    while size < want and pool and (unit == "rows" or any(r["student_tokens"] for r in pool)):
        record = pool[n % len(pool)]
        copy = dict(record, repeat=n // len(pool) + 1)
        out.append(copy)
        size, repeats, n = size + _size([copy], unit), repeats + 1, n + 1
    return out, used, repeats


def apply_mixture(records: list[dict], spares: list[dict], settings: PublishSettings) -> Mixed:
    by, unit, seed = settings.mixture_by, settings.target_unit, settings.mixture_seed
    groups: dict[str, list[dict]] = defaultdict(list)
    spare_groups: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        groups[record[by]].append(record)
    for spare in spares:
        spare_groups[spare[by]].append(spare)
    out, dropped, added, summary = [], 0, {"spare_traces": 0, "repeats": 0}, {}
    for group in sorted(groups):
        base = groups[group]
        used = repeats = 0
        if group in settings.targets:
            asked = {"target": settings.targets[group], "unit": unit}
            want = float(settings.targets[group])
        else:
            weight = settings.mixture.get(group, settings.mixture_default)
            asked = {"weight": weight}
            want = weight * _size(base, unit)
        if "weight" in asked and asked["weight"] <= 1:
            kept = [r for r in base if mixture_share(r["prompt_id"], seed) < asked["weight"]]
        elif want <= _size(base, unit):
            kept = _down(base, want, unit, seed)
        else:
            kept, used, repeats = _up(base, spare_groups[group], want, unit, seed)
        dropped += max(0, len(base) - len(kept)) if not (used or repeats) else 0
        added["spare_traces"] += used
        added["repeats"] += repeats
        out += kept
        summary[group] = {"asked": asked, "available": {"rows": len(base), "tokens": _size(base, "tokens"),
                                                        "spare_traces": len(spare_groups[group])},
                          "achieved": {"rows": len(kept), "tokens": _size(kept, "tokens"),
                                       "spare_traces": used, "repeats": repeats}}
    total = sum(g["achieved"]["rows"] for g in summary.values()) or 1
    for group in summary.values():
        group["achieved"]["share"] = round(group["achieved"]["rows"] / total, 4)
    out.sort(key=lambda r: (r["prompt_id"], r["teacher"], r["sample_index"], r["repeat"]))
    return Mixed(out, dropped, {k: v for k, v in added.items() if v},
                 {"by": by, "unit": unit, "seed": seed, "upsampling": UPSAMPLING, "groups": summary})
