"""Benchmark: ingest throughput and peak memory on a generated 1M-record JSONL.

Targets (issue 2): >= 50k records/s and peak RSS <= 1.5 GB on the 2-core machine. The
baseline, run in the same process on the same file, is the bare parse loop (read lines +
orjson.loads), i.e. the floor any JSONL ingest pays; the ratio shows what mapping, hashing,
quarantine checks and the DuckLake writes cost on top.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

import orjson

WORDS = "the a of number find sum product integer prime root triangle circle area value how many ways".split()


def write_pool(path: Path, n: int, seed: int = 0, bad_every: int = 1000) -> None:
    """GSM8K-like records; one in `bad_every` lines is broken so quarantine is exercised."""
    rng = random.Random(seed)
    with open(path, "wb") as handle:
        for i in range(n):
            if i % bad_every == bad_every - 1:
                handle.write(b'{"question": "broken\n')
                continue
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 45)))
            record = {"question": f"Problem {i}: {words}?", "answer": f"Work.\n#### {rng.randint(0, 10**6)}"}
            handle.write(orjson.dumps(record) + b"\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_ingest(path: Path, home: Path) -> dict:
    from schemas.config import IngestSettings, SourceConfig
    from tasks.ingest.stage import ingest_source
    from warehouse.home import Home
    from warehouse.lake import Lake

    before = peak_rss_mb()
    start = time.perf_counter()
    with Lake(Home.resolve(home)) as lake:
        report = ingest_source(lake, SourceConfig(name="bench", paths=[str(path)]), IngestSettings(), "bench")
    seconds = time.perf_counter() - start
    totals = report.totals()
    return {"records": totals["read"], "seconds": round(seconds, 2), "records_per_s": round(totals["read"] / seconds),
            "peak_rss_mb": round(peak_rss_mb()), "rss_before_mb": round(before), "totals": totals}


def bench_parse_baseline(path: Path) -> dict:
    start = time.perf_counter()
    n = 0
    with open(path, "rb") as handle:
        for line in handle:
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                pass
            n += 1
    seconds = time.perf_counter() - start
    return {"records": n, "seconds": round(seconds, 2), "records_per_s": round(n / seconds)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="teachable-bench-"))
    try:
        pool = work / "pool.jsonl"
        write_pool(pool, args.records)
        size_mb = round(pool.stat().st_size / 2**20)
        ingest = bench_ingest(pool, work / "home")  # first, so peak RSS is the ingest's own
        baseline = bench_parse_baseline(pool)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "bench": "ingest",
        "file_mb": size_mb,
        "ingest": ingest,
        "baseline_parse_only": baseline,
        "ratio_vs_parse_only": round(ingest["records_per_s"] / baseline["records_per_s"], 3),
        "targets": {"records_per_s": 50_000, "peak_rss_mb": 1536},
        "meets_targets": ingest["records_per_s"] >= 50_000 and ingest["peak_rss_mb"] <= 1536,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
