"""Tasks layer (publish): distributions of a release's own records, for the manifest's `stats`.

Pure functions over the release table (or the same columns read back from its shards): the
pass-rate histogram of the released prompts and the token lengths of the released rows. Fixed
bins, so the section stays small however large the release, and two releases compare bin by bin.
"""

from __future__ import annotations

import math

import pyarrow as pa

PASS_RATE_BINS = 10  # [0, 0.1), [0.1, 0.2), ... [0.9, 1.0]: with n = 8 each k/8 lands in its own bin
MIN_TOKEN_EDGE = 16  # first token bucket is [0, 16); then powers of two: [16, 32), [32, 64), ...
COLUMNS = ["prompt_id", "difficulty", "tokens"]


def pass_rate_bin(rate: float) -> int:
    # round() first: 0.3 * 10 is 3.0000000000000004 and 0.7 * 10 is 7.000000000000001.
    return min(PASS_RATE_BINS - 1, math.floor(round(rate * PASS_RATE_BINS, 9)))


def pass_rate_histogram(rates: dict[str, float | None]) -> dict:
    """One pass rate per released prompt -> counts per bin, plus the unscored prompts."""
    counts = [0] * PASS_RATE_BINS
    scored = [r for r in rates.values() if r is not None]
    for rate in scored:
        counts[pass_rate_bin(rate)] += 1
    bins = [{"from": i / PASS_RATE_BINS, "to": (i + 1) / PASS_RATE_BINS, "prompts": n} for i, n in enumerate(counts)]
    mean = round(sum(scored) / len(scored), 4) if scored else None
    return {"bins": bins, "unscored": len(rates) - len(scored), "mean": mean}


def token_bucket(tokens: int) -> int:
    """Lower edge of the bucket holding `tokens`: 0, then 16, 32, 64, ... (doubling)."""
    return 0 if tokens < MIN_TOKEN_EDGE else 1 << (tokens.bit_length() - 1)


def _bucket_end(low: int) -> int:
    return MIN_TOKEN_EDGE if low == 0 else 2 * low


def _quantile(ordered: list[int], q: float) -> int:
    # Nearest rank: always a value that occurs, so the numbers read back from the rows exactly.
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def token_histogram(tokens: list[int | None]) -> dict:
    """Token lengths of the released rows: doubling buckets (empty ones between kept) and quantiles."""
    known = sorted(t for t in tokens if t is not None)
    summary = {"unknown": len(tokens) - len(known), "buckets": []}
    if not known:
        return summary | {"min": None, "median": None, "p90": None, "max": None, "mean": None}
    counts: dict[int, int] = {}
    for value in known:
        counts[token_bucket(value)] = counts.get(token_bucket(value), 0) + 1
    low, edges = token_bucket(known[0]), []
    while low <= known[-1]:
        edges.append(low)
        low = _bucket_end(low)
    summary["buckets"] = [{"from": e, "to": _bucket_end(e), "rows": counts.get(e, 0)} for e in edges]
    return summary | {"min": known[0], "median": _quantile(known, 0.5), "p90": _quantile(known, 0.9),
                      "max": known[-1], "mean": round(sum(known) / len(known), 1)}


def release_stats(table: pa.Table) -> dict:
    """`pass_rate` (per released prompt) and `tokens` (per released row) of a release table."""
    rows = table.select(COLUMNS).to_pylist()
    rates = {r["prompt_id"]: (r["difficulty"] or {}).get("pass_rate") for r in rows}
    return {"pass_rate": pass_rate_histogram(rates), "tokens": token_histogram([r["tokens"] for r in rows])}
