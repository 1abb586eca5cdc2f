"""Benchmark: dedup through the CLI on realistic pools built from real seed text.

Pools (bench/dedup_pool.py): the shared GSM8K/MATH/AIME seeds (else procedural problems),
spliced problems, families of 20-30 numbers-changed variants (must all be kept) and one-word
near duplicates (must be dropped). For each pool size (default 200k and 1M, so the growth of
cost per prompt is visible) `teachable dedup` runs as a subprocess on a warehouse holding the
pool: wall time of the command (process start included), peak RSS of it and its workers,
candidate pairs per prompt, F1 on the planted families, numbers-changed variants merged. A
datasketch MinHashLSH loop (MinHash of the same word bigrams, query, insert if new) is timed in
this process on a slice of whole families, and the CLI on the same slice, for the speed ratio.
Precision on the real seeds alone: merges that join prompts whose reference answers are not
equivalent (tasks.verify), with answer-aware verification on (default) and off.
Targets (issue 12): 1M prompts >= 25k/s, peak RSS <= 3 GB, >= 5x datasketch, cost per prompt at
1M within 1.3x of 200k; seeds: <= 2% of merges with non-equivalent answers, recall >= 0.98.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import tree_rss_mb  # noqa: E402
from bench.dedup_pool import Pool, load_seeds, make_pool  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def fill_warehouse(home: Path, texts: list[str], answers: list[str | None], batch: int = 100_000) -> None:
    """Write prompts straight into the warehouse (setup, not measured), as ingest would."""
    from schemas.records import Prompt
    from tasks.text import normalize_text, text_hash
    from warehouse.home import Home
    from warehouse.lake import Lake

    at = datetime.now(UTC)
    with Lake(Home.resolve(home)) as lake:
        for lo in range(0, len(texts), batch):
            chunk = texts[lo : lo + batch]
            ids = [str(lo + i) for i in range(len(chunk))]
            n = len(chunk)
            table = pa.table({
                "prompt_id": [hashlib.blake2b(i.encode(), digest_size=16).hexdigest() for i in ids],
                "source": ["bench"] * n, "source_file": ["pool"] * n, "source_id": ids, "problem": chunk,
                "answer": answers[lo : lo + batch], "answer_raw": [None] * n,
                "domain": ["math"] * n, "text_hash": [text_hash(normalize_text(t)) for t in chunk],
                "extra": [None] * n, "run_id": ["bench"] * n, "ingested_at": [at] * n,
            })
            with lake.transaction():
                lake.insert_new(Prompt, table)


def score(pairs: list[tuple[int, int]], family: np.ndarray) -> dict:
    """F1 of dropped prompts: a drop is right when it points into its own family."""
    should = int(len(family) - len(np.unique(family)))
    dropped = np.array([d for d, _ in pairs], np.int64)
    kept = np.array([k for _, k in pairs], np.int64)
    right = int((family[dropped] == family[kept]).sum()) if pairs else 0
    precision = right / len(pairs) if pairs else 1.0
    recall = right / should if should else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"dropped": len(pairs), "should_drop": should, "correct": right,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def run_cli(home: Path, args: list[str]) -> dict:
    """`teachable dedup ARGS` on `home`: wall seconds (process start included), peak RSS of the
    command and its workers (sampled every 50 ms), and the stage counters it recorded."""
    env = {**os.environ, "TEACHABLE_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)  # the direct path, as a user without a server runs it
    start = time.perf_counter()
    child = subprocess.Popen([str(Path(sys.executable).parent / "teachable"), "dedup", *args], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    peak, done = 0.0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(child.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = child.communicate()[0].decode(errors="replace")
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if child.returncode:
        raise RuntimeError(f"teachable dedup failed ({child.returncode}):\n{output[-3000:]}")
    from warehouse.home import Home
    from warehouse.lake import Lake

    with Lake(Home.resolve(home)) as lake:
        stats = lake.query("SELECT stats FROM runs WHERE stage = 'dedup' ORDER BY started_at DESC LIMIT 1")
        pairs = lake.query(
            "SELECT CAST(p.source_id AS BIGINT) AS d, CAST(k.source_id AS BIGINT) AS k, x.method FROM duplicates x "
            "JOIN prompts p USING (prompt_id) JOIN prompts k ON k.prompt_id = x.duplicate_of"
        )
    return {"seconds": seconds, "peak_tree_rss_mb": round(peak), "totals": json.loads(stats.column("stats")[0].as_py()),
            "pairs": list(zip(pairs.column("d").to_pylist(), pairs.column("k").to_pylist())),
            "methods": pairs.column("method").to_pylist()}


def datasketch_baseline(texts: list[str], threshold: float, num_perm: int = 128) -> dict:
    """The usual datasketch dedup loop on the same shingles: MinHash, query, insert if new."""
    from datasketch import MinHash, MinHashLSH

    from tasks.text import tokens, word_ngrams

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    pairs = []
    for i, text in enumerate(texts):
        sketch = MinHash(num_perm=num_perm)
        sketch.update_batch([g.encode() for g in word_ngrams(tokens(text), 2)])
        hits = lsh.query(sketch)
        if hits:
            pairs.append((i, min(hits)))
        else:
            lsh.insert(i, sketch)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "prompts_per_s": round(len(texts) / seconds), "pairs": pairs}


def _summary(run: dict, pool: Pool) -> dict:
    n, t = len(pool.texts), run["totals"]
    kinds = np.array(pool.kind)
    merged = [(d, k) for d, k in run["pairs"] if pool.family[d] != pool.family[k]]
    return {
        "prompts": n, "seconds": round(run["seconds"], 2), "prompts_per_s": round(n / run["seconds"]),
        "us_per_prompt": round(run["seconds"] / n * 1e6, 1), "peak_tree_rss_mb": run["peak_tree_rss_mb"],
        "dropped": t["dropped"], "candidate_pairs": t["candidate_pairs"],
        "candidate_pairs_per_prompt": round(t["candidate_pairs"] / n, 3), "verified_pairs": t["verified_pairs"],
        "rejected": t["rejected"], "phases_s": t["seconds"], "quality": score(run["pairs"], pool.family),
        "numbers_variants_merged": sum(1 for d, k in merged if "numbers" in (kinds[d], kinds[k])),
    }


def _slice(pool: Pool, size: int) -> Pool:
    """Whole families, about `size` prompts, the same for both engines."""
    families = np.unique(pool.family)
    families = families[np.random.default_rng(1).random(len(families)) < size / len(pool.texts)]
    chosen = np.flatnonzero(np.isin(pool.family, families))
    return Pool([pool.texts[i] for i in chosen], [pool.answers[i] for i in chosen], pool.family[chosen],
                [pool.kind[i] for i in chosen])


def seed_precision(work: Path) -> dict:
    """Dedup of the real seeds alone, answer-aware on and off: merges whose two reference
    answers are both present and not equivalent."""
    from tasks.verify import answers_equivalent

    seeds = load_seeds()
    out = {"seeds": len(seeds)}
    for label, flags in (("answer_aware", []), ("text_only", ["--no-answer-aware"])):
        home = work / f"seeds-{label}"
        fill_warehouse(home, [s.problem for s in seeds], [s.answer for s in seeds])
        run = run_cli(home, flags)
        near = [(d, k) for (d, k), m in zip(run["pairs"], run["methods"]) if m == "minhash"]
        wrong = [(d, k) for d, k in near if seeds[d].answer and seeds[k].answer
                 and not answers_equivalent(seeds[d].answer, seeds[k].answer)]
        out[label] = {"minhash_merges": len(near), "answers_not_equivalent": len(wrong),
                      "share": round(len(wrong) / len(near), 4) if near else 0.0,
                      "rejected": run["totals"]["rejected"],
                      "examples": [(seeds[d].problem[:80], seeds[k].problem[:80]) for d, k in wrong[:3]]}
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", default="200000,1000000", help="Comma-separated pool sizes.")
    parser.add_argument("--baseline-prompts", type=int, default=100_000,
                        help="Size of the slice both engines dedup (large enough that process start is not the story).")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-seeds", action="store_true", help="Skip the seed precision check.")
    args = parser.parse_args(argv)
    from schemas.dedup import DedupSettings

    sizes = [int(x) for x in args.prompts.split(",")]
    flags = ["--workers", str(args.workers)] if args.workers else []
    work = Path(tempfile.mkdtemp(prefix="teachable-dedup-bench-"))
    result: dict = {"bench": "dedup", "cpu_count": os.cpu_count(), "pools": {}}
    try:
        for size in sizes:
            pool = make_pool(size)
            fill_warehouse(work / f"pool-{size}", pool.texts, pool.answers)
            result["pools"][str(size)] = _summary(run_cli(work / f"pool-{size}", flags), pool)
            print(json.dumps({size: result["pools"][str(size)]}), flush=True)
            shutil.rmtree(work / f"pool-{size}", ignore_errors=True)
            if size == sizes[0]:
                part = _slice(pool, args.baseline_prompts)
                fill_warehouse(work / "slice", part.texts, part.answers)
                ours = _summary(run_cli(work / "slice", flags), part)
                base = datasketch_baseline(part.texts, DedupSettings().threshold)
                base_quality = score(base.pop("pairs"), part.family)
            del pool
        if not args.no_seeds:
            result["seeds"] = seed_precision(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = ours["prompts_per_s"] / base["prompts_per_s"]
    pools = result["pools"]
    result["slice_comparison"] = {
        "note": "same slice of whole families; ours = `teachable dedup` wall time (process start included), "
                "datasketch = in-process loop on in-memory texts (same word bigrams, threshold, 128 perms)",
        "ours": ours, "datasketch": {**base, "quality": base_quality}, "speed_ratio": round(ratio, 2),
        "speed_ratio_largest_pool": round(pools[str(max(sizes))]["prompts_per_s"] / base["prompts_per_s"], 2),
    }
    small, large = pools[str(min(sizes))], pools[str(max(sizes))]
    growth = large["us_per_prompt"] / small["us_per_prompt"]
    result["cost_growth"] = round(growth, 2)
    result["targets"] = {"prompts_per_s": 25_000, "peak_rss_mb": 3072, "speed_ratio": 5.0, "cost_growth": 1.3,
                         "seed_answer_mismatch_share": 0.02, "near_recall": 0.98}
    checks = {
        "prompts_per_s": large["prompts_per_s"] >= 25_000, "peak_rss": large["peak_tree_rss_mb"] <= 3072,
        "speed_ratio": ratio >= 5.0, "cost_growth": growth <= 1.3,
        "numbers_variants_kept": all(p["numbers_variants_merged"] == 0 for p in pools.values()),
        "recall": all(p["quality"]["recall"] >= 0.98 for p in pools.values()),
    }
    if "seeds" in result:
        checks["seed_precision"] = result["seeds"]["answer_aware"]["share"] <= 0.02
    result["checks"] = checks
    result["meets_targets"] = all(checks.values())
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
