"""Tasks layer (publish): kept traces in, chat records out, every exclusion with its reason.

Pure functions over the rows `warehouse.release_queries.kept_traces` returns: defence-in-depth
exclusion of duplicate prompts and of whatever contamination rows concern (the problem, the
published rewrite, the trace's answer, a benchmark sibling), the band / pass-rate filters, the
student-length limit, then the mixture (`tasks.publish.mixture`). Spare traces (verified but
not kept) are only material for up-sampling.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from schemas.errors import UserError
from schemas.publish import RELEASE_SCHEMA, PublishSettings
from tasks.publish.mixture import apply_mixture, mixture_share  # noqa: F401 - mixture_share re-exported

NO_BAND = "none"  # how records without a difficulty row are counted


@dataclass
class Assembled:
    table: pa.Table
    candidates: int
    dropped: Counter = field(default_factory=Counter)
    files: Counter = field(default_factory=Counter)  # (source, source_file) -> records
    mixture: dict = field(default_factory=dict)  # asked vs achieved, see tasks.publish.mixture
    added: dict = field(default_factory=dict)  # up-sampling: spare_traces, repeats

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
            "student_tokens": sum(self.table.column("student_tokens").to_pylist()),
            "candidates": self.candidates,
            "dropped": dict(sorted(self.dropped.items())),
            "added": dict(sorted(self.added.items())),
            **{f"by_{name}": dict(sorted(counter.items())) for name, counter in by.items()},
        }


def drop_reason(row: dict, settings: PublishSettings) -> str | None:
    if row["missing_prompt"]:
        return "missing_prompt"
    if row["duplicate"]:
        return "duplicate"
    if row["contaminated"]:
        return "contaminated"
    if row["contaminated_rewrite"]:
        return "contaminated_rewrite"
    if row["contaminated_answer"]:
        return "contaminated_answer"
    if row["sibling"]:
        return "benchmark_sibling"
    if settings.bands is not None and row["band"] not in settings.bands:
        return "band_filter"
    rate = row["pass_rate"]
    if settings.min_pass_rate is not None and (rate is None or rate < settings.min_pass_rate):
        return "pass_rate_filter"
    if settings.max_pass_rate is not None and (rate is None or rate > settings.max_pass_rate):
        return "pass_rate_filter"
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
        "student_tokens": 0,  # measured once the records exist (tasks.publish.lengths)
        "repeat": 0,
    }


def check_mixture(candidates: pa.Table, settings: PublishSettings) -> None:
    """A mixture key naming no group is almost always a typo that would silently keep everything."""
    groups = set(candidates.column(settings.mixture_by).to_pylist())
    unknown = sorted((set(settings.mixture) | set(settings.targets)) - groups)
    if unknown:
        known = ", ".join(sorted(g for g in groups if g is not None))
        raise UserError(f"mixture names no {settings.mixture_by} {', '.join(unknown)}; kept traces have: {known}")


def assemble(candidates: pa.Table, settings: PublishSettings, count_tokens) -> Assembled:
    """`count_tokens(list of messages) -> list of int`: the student tokenizer's lengths."""
    check_mixture(candidates, settings)
    rows = candidates.to_pylist()
    kept = [r for r in rows if not r.get("spare")]
    dropped: Counter = Counter()
    records: list[dict] = []
    spares: list[dict] = []
    passed: set[str] = set()
    for row in kept:
        reason = drop_reason(row, settings)
        if reason:
            dropped[reason] += 1
            continue
        passed.add(row["prompt_id"])
        records.append(chat_record(row, settings) | {"_file": (row["source"], row["source_file"])})
    for row in rows:
        if row.get("spare") and row["prompt_id"] in passed:
            spares.append(chat_record(row, settings) | {"_file": (row["source"], row["source_file"])})
    lengths = count_tokens([r["messages"] for r in records + spares])
    for record, length in zip(records + spares, lengths):
        record["student_tokens"] = length
    if settings.max_seq_len is not None:
        dropped["too_long_for_student"] += sum(r["student_tokens"] > settings.max_seq_len for r in records)
        records = [r for r in records if r["student_tokens"] <= settings.max_seq_len]
        spares = [r for r in spares if r["student_tokens"] <= settings.max_seq_len]
    mixed = apply_mixture(records, spares, settings)
    dropped["mixture"] += mixed.dropped
    files: Counter = Counter(r.pop("_file") for r in mixed.records)
    table = pa.Table.from_pylist(mixed.records, schema=RELEASE_SCHEMA)
    return Assembled(table, len(kept), +dropped, files, mixed.summary, mixed.added)
