"""Tasks layer (publish): kept traces in, chat records out, every exclusion with its reason.

Pure functions over the rows `warehouse.release_queries.kept_traces` returns: defence-in-depth
exclusion of duplicate and contaminated prompts, the band / pass-rate filters, and the mixture
(a share of each source or domain, chosen by a salted hash of prompt_id, so the same prompts
are kept on every run). All samples of a prompt are kept or dropped together.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from schemas.errors import UserError
from schemas.publish import RELEASE_SCHEMA, PublishSettings

NO_BAND = "none"  # how records without a difficulty row are counted


@dataclass
class Assembled:
    table: pa.Table
    candidates: int
    dropped: Counter = field(default_factory=Counter)
    files: Counter = field(default_factory=Counter)  # (source, source_file) -> records

    def stats(self) -> dict:
        """Counts of the release itself, by the dimensions a user filters and mixes on."""
        rows = self.table.select(["prompt_id", "source", "domain", "teacher", "tokens", "rewritten"]).to_pylist()
        bands = self.table.column("difficulty").to_pylist()
        by = {name: Counter() for name in ("source", "domain", "band", "teacher")}
        for row, difficulty in zip(rows, bands):
            by["source"][row["source"]] += 1
            by["domain"][row["domain"]] += 1
            by["teacher"][row["teacher"]] += 1
            by["band"][(difficulty or {}).get("band") or NO_BAND] += 1
        return {
            "rows": len(rows),
            "prompts": len({r["prompt_id"] for r in rows}),
            "rewritten_rows": sum(r["rewritten"] for r in rows),
            "tokens": sum(r["tokens"] or 0 for r in rows),
            "candidates": self.candidates,
            "dropped": dict(sorted(self.dropped.items())),
            **{f"by_{name}": dict(sorted(counter.items())) for name, counter in by.items()},
        }


def mixture_share(prompt_id: str, seed: int) -> float:
    """A stable number in [0, 1) per prompt: the mixture keeps it when below the group's weight."""
    digest = hashlib.blake2b(f"{seed}\x1f{prompt_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def drop_reason(row: dict, settings: PublishSettings) -> str | None:
    if row["missing_prompt"]:
        return "missing_prompt"
    if row["duplicate"]:
        return "duplicate"
    if row["contaminated"]:
        return "contaminated"
    if settings.bands is not None and row["band"] not in settings.bands:
        return "band_filter"
    rate = row["pass_rate"]
    if settings.min_pass_rate is not None and (rate is None or rate < settings.min_pass_rate):
        return "pass_rate_filter"
    if settings.max_pass_rate is not None and (rate is None or rate > settings.max_pass_rate):
        return "pass_rate_filter"
    group = row[settings.mixture_by]
    weight = settings.mixture.get(group, settings.mixture_default)
    if mixture_share(row["prompt_id"], settings.mixture_seed) >= weight:
        return "mixture"
    return None


def assistant_content(reasoning: str | None, solution: str | None) -> str:
    return f"<think>\n{(reasoning or '').strip()}\n</think>\n\n{(solution or '').strip()}"


def chat_record(row: dict, settings: PublishSettings) -> dict:
    problem = row["rewritten_problem"] or row["problem"]
    difficulty = None
    if row["band"] is not None:
        difficulty = {"pass_rate": row["pass_rate"], "band": row["band"]}
    return {
        "messages": [
            {"role": "system", "content": settings.system_prompt},
            {"role": "user", "content": problem},
            {"role": "assistant", "content": assistant_content(row["reasoning"], row["solution"])},
        ],
        "prompt_id": row["prompt_id"],
        "source": row["source"],
        "domain": row["domain"],
        "difficulty": difficulty,
        "tokens": row["tokens"],
        "teacher": row["teacher"],
        "sample_index": row["sample_index"],
        "rewritten": row["rewritten_problem"] is not None,
    }


def check_mixture(candidates: pa.Table, settings: PublishSettings) -> None:
    """A mixture key naming no group is almost always a typo that would silently keep everything."""
    groups = set(candidates.column(settings.mixture_by).to_pylist())
    unknown = sorted(set(settings.mixture) - groups)
    if unknown:
        known = ", ".join(sorted(g for g in groups if g is not None))
        raise UserError(f"mixture names no {settings.mixture_by} {', '.join(unknown)}; kept traces have: {known}")


def assemble(candidates: pa.Table, settings: PublishSettings) -> Assembled:
    check_mixture(candidates, settings)
    records: list[dict] = []
    dropped: Counter = Counter()
    files: Counter = Counter()
    for row in candidates.to_pylist():
        reason = drop_reason(row, settings)
        if reason:
            dropped[reason] += 1
            continue
        records.append(chat_record(row, settings))
        files[(row["source"], row["source_file"])] += 1
    table = pa.Table.from_pylist(records, schema=RELEASE_SCHEMA)
    return Assembled(table, candidates.num_rows, dropped, files)
