"""Benchmark: near-duplicate dedup of a generated 1M-prompt pool with planted duplicates.

Targets (dedup issue): >= 25k prompts/s end to end (`run_dedup` on a warehouse holding the
pool: read, sign in worker processes, group band keys, verify, cluster, write) with peak RSS
<= 3 GB (the dedup process and its workers, summed), and >= 5x the per-prompt throughput of a
datasketch MinHashLSH baseline at equal or better F1. The baseline (the usual datasketch loop:
MinHash of the same word-bigram shingles, query, insert if new) runs in this process on a
subsample of whole duplicate families; our stage runs on the same subsample in its own
warehouse for the comparison. Also measured: a rerun with nothing new, and an increment.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
PREFIXES = ["Solve: ", "Question: ", "Problem: "]
FILLERS = ["the", "also", "exactly", "then", "all"]


def vocabulary(size: int = 20_000, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES, rng.integers(1, 4))))
    return sorted(words)


@dataclass
class Pool:
    texts: list[str]
    family: np.ndarray  # prompts with the same family are duplicates of each other
    kind: list[str]  # base | exact | format | words | numbers


def _base_texts(rng: np.random.Generator, vocab: list[str], n: int) -> list[str]:
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 0.8  # Zipf-like word frequencies
    weights /= weights.sum()
    lengths = rng.integers(12, 60, n)
    words = rng.choice(len(vocab), int(lengths.sum()), p=weights)
    numbers = rng.integers(2, 2000, (n, 3))
    texts, at = [], 0
    for i, length in enumerate(lengths.tolist()):
        doc = [vocab[w] for w in words[at : at + length]]
        at += length
        for k, value in enumerate(numbers[i].tolist()):
            doc.insert((k + 1) * length // 4, str(value))
        texts.append(" ".join(doc).capitalize() + "?")
    return texts


def _format_edit(text: str, rng: np.random.Generator) -> str:
    choice = rng.integers(3)
    if choice == 0:
        return text.upper() if rng.random() < 0.5 else text.lower()
    if choice == 1:
        return text.replace(" ", "  ").rstrip("?") + " ."
    return "\n".join(text.split(" ", 3))


def _word_edit(text: str, rng: np.random.Generator) -> str:
    words = text.split(" ")
    choice = rng.integers(4)
    if choice == 0:
        words.insert(int(rng.integers(1, len(words))), FILLERS[rng.integers(len(FILLERS))])
    elif choice == 1:
        plain = [i for i, w in enumerate(words) if w.isalpha()]
        del words[plain[rng.integers(len(plain))]]
    elif choice == 2:
        i = int(rng.integers(len(words) - 1))
        words[i], words[i + 1] = words[i + 1], words[i]
    else:
        return PREFIXES[rng.integers(len(PREFIXES))] + text
    return " ".join(words)


def _number_edit(text: str, rng: np.random.Generator) -> str:
    words = text.split(" ")
    digits = [i for i, w in enumerate(words) if w.isdigit()]
    i = digits[rng.integers(len(digits))]
    words[i] = str(int(words[i]) + int(rng.integers(1, 9)))
    return " ".join(words)


def make_pool(n: int, seed: int = 0) -> Pool:
    """~80% distinct problems, 4% exact copies, 4% formatting copies, 6% word-edit copies,
    6% number-changed variants (distinct problems: they must survive)."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary()
    n_base = int(n * 0.80)
    plan = [("exact", int(n * 0.04)), ("format", int(n * 0.04)), ("words", int(n * 0.06))]
    plan.append(("numbers", n - n_base - sum(k for _, k in plan)))
    texts = _base_texts(rng, vocab, n_base)
    family = list(range(n_base))
    kind = ["base"] * n_base
    edit = {"exact": lambda t, r: t, "format": _format_edit, "words": _word_edit, "numbers": _number_edit}
    for name, count in plan:
        for source in rng.integers(0, n_base, count).tolist():
            texts.append(edit[name](texts[source], rng))
            family.append(len(family) if name == "numbers" else source)
            kind.append(name)
    # Two number variants of one problem can come out identical: then they are one family.
    first_of: dict[str, int] = {}
    for i in range(n_base, n):
        if kind[i] == "numbers":
            family[i] = first_of.setdefault(texts[i], family[i])
    order = rng.permutation(n)  # copies land anywhere in the pool
    return Pool([texts[i] for i in order], np.asarray(family)[order], [kind[i] for i in order])


def fill_warehouse(home: Path, texts: list[str], start: int = 0, batch: int = 100_000) -> None:
    """Write prompts straight into the warehouse (setup, not measured), as ingest would."""
    from schemas.records import Prompt
    from tasks.text import normalize_text, text_hash
    from warehouse.home import Home
    from warehouse.lake import Lake

    at = datetime.now(UTC)
    with Lake(Home.resolve(home)) as lake:
        for lo in range(0, len(texts), batch):
            chunk = texts[lo : lo + batch]
            ids = [str(start + lo + i) for i in range(len(chunk))]
            n = len(chunk)
            table = pa.table({
                "prompt_id": [hashlib.blake2b(i.encode(), digest_size=16).hexdigest() for i in ids],
                "source": ["bench"] * n, "source_file": ["pool"] * n, "source_id": ids, "problem": chunk,
                "answer": [None if int(i) % 3 == 0 else "1" for i in ids], "answer_raw": [None] * n,
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


def _dedup_child(home: str, workers: int | None, queue: multiprocessing.Queue) -> None:
    """Runs in a fresh process so its peak RSS is the stage's own, not the pool generator's."""
    from schemas.dedup import DedupSettings
    from tasks.dedup.stage import run_dedup
    from warehouse.home import Home
    from warehouse.lake import Lake

    start = time.perf_counter()
    with Lake(Home.resolve(home)) as lake:
        report = run_dedup(lake, DedupSettings(workers=workers), f"bench-{time.time_ns()}")
        seconds = time.perf_counter() - start  # open the warehouse .. all rows committed
        pairs = lake.query(
            "SELECT CAST(p.source_id AS BIGINT) AS d, CAST(k.source_id AS BIGINT) AS k FROM duplicates x "
            "JOIN prompts p USING (prompt_id) JOIN prompts k ON k.prompt_id = x.duplicate_of"
        )
    queue.put({
        "seconds": seconds, "totals": report.totals(),
        "pairs": list(zip(pairs.column("d").to_pylist(), pairs.column("k").to_pylist())),
        "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    })


def _tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def measure_dedup(home: Path, workers: int | None) -> dict:
    """run_dedup in a child process; peak RSS of it plus its workers sampled every 50 ms."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_dedup_child, args=(str(home), workers, queue))
    child.start()
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_mb(child.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = queue.get()
    child.join()
    done.set()
    sampler.join()
    result["peak_tree_rss_mb"] = round(peak)
    return result


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


def _summary(run: dict, n: int, family: np.ndarray) -> dict:
    t = run["totals"]
    return {
        "prompts": n, "seconds": round(run["seconds"], 2), "prompts_per_s": round(n / run["seconds"]),
        "peak_tree_rss_mb": run["peak_tree_rss_mb"], "self_maxrss_mb": round(run["self_maxrss_mb"]),
        "dropped": t["dropped"],
        "candidate_pairs": t["candidate_pairs"], "verified_pairs": t["verified_pairs"],
        "rejected": t["rejected"], "phases_s": t["seconds"], "quality": score(run["pairs"], family),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1_000_000)
    parser.add_argument("--baseline-prompts", type=int, default=100_000)
    parser.add_argument("--increment", type=int, default=10_000, help="New prompts for the incremental run.")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    from schemas.dedup import DedupSettings

    threshold = DedupSettings().threshold
    work = Path(tempfile.mkdtemp(prefix="teachable-dedup-bench-"))
    try:
        pool = make_pool(args.prompts + args.increment)
        main_texts = pool.texts[: args.prompts]
        fill_warehouse(work / "home", main_texts)
        full = _summary(measure_dedup(work / "home", args.workers), args.prompts, pool.family[: args.prompts])
        rerun = measure_dedup(work / "home", args.workers)
        fill_warehouse(work / "home", pool.texts[args.prompts :], start=args.prompts)
        increment = measure_dedup(work / "home", args.workers)
        # Subsample of whole families (every family whose base index is small), same for both.
        share = args.baseline_prompts / args.prompts
        families = np.unique(pool.family)
        families = families[np.random.default_rng(1).random(len(families)) < share]
        chosen = np.flatnonzero(np.isin(pool.family[: args.prompts], families))
        sub_texts = [main_texts[i] for i in chosen]
        sub_family = pool.family[chosen]
        fill_warehouse(work / "sub", sub_texts)
        ours_sub = _summary(measure_dedup(work / "sub", args.workers), len(sub_texts), sub_family)
        base = datasketch_baseline(sub_texts, threshold)
        base_quality = score(base.pop("pairs"), sub_family)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = ours_sub["prompts_per_s"] / base["prompts_per_s"]
    result = {
        "bench": "dedup",
        "cpu_count": os.cpu_count(),
        "full_pool": full,
        "rerun_nothing_new": {"seconds": round(rerun["seconds"], 2), "new_rows": rerun["totals"]["written"]},
        "increment": {"prompts": args.increment, "seconds": round(increment["seconds"], 2),
                      "dropped": increment["totals"]["dropped"], "pool_before": increment["totals"]["pool_before"]},
        "subsample_comparison": {
            "note": "same subsample of whole duplicate families for both; ours end to end through the "
                    "warehouse, datasketch on in-memory texts (same word-bigram shingles, threshold, 128 perms)",
            "ours": ours_sub, "datasketch": {**base, "quality": base_quality},
            "speed_ratio": round(ratio, 2),
        },
        "targets": {"prompts_per_s": 25_000, "peak_rss_mb": 3072, "speed_ratio": 5.0},
    }
    result["meets_targets"] = bool(
        full["prompts_per_s"] >= 25_000 and full["peak_tree_rss_mb"] <= 3072 and ratio >= 5.0
        and ours_sub["quality"]["f1"] >= base_quality["f1"]
    )
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
