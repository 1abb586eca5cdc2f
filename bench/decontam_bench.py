"""Benchmark: decontamination of a realistic pool through the CLI, every default layer on.

The pool is built from real seed text (GSM8K train and MATH train problems): half spliced
from two seeds, 40% templated families (about 25 variants of one seed with other numbers),
10% one-word near-duplicates of a seed, plus benchmark items injected verbatim and wrapped
(whose recall is reported). `teachable decontaminate --benchmarks ../shared/data/benchmarks`
then runs in a child process (under `nice`); measured: wall time of the command, prompts/s,
peak RSS of the process tree, the rows committed over time. `--kill-after S` SIGKILLs the
first run after S seconds and reruns: the work lost is the time since the last commit.
Targets (issue 12): >= 2000 prompts/s at 1M, peak RSS <= 3 GB, a kill loses <= 60 s of work.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import tree_rss_mb  # noqa: E402

DATA = Path(os.environ.get("TEACHABLE_DATA", ROOT.parent / "shared" / "data"))
_NUMBER = re.compile(r"\d+")
_SENTENCE = re.compile(r"(?<=[.?!])\s+")
WRAPS = ("{p}\n\nPlease reason step by step, and put your final answer within \\boxed{{}}.",
         "Question: {p}\nAnswer:", "Solve this problem carefully.\n\n{p}")


def seeds() -> list[str]:
    texts = [json.loads(line)["question"] for line in open(DATA / "seeds" / "gsm8k_train.jsonl")]
    texts += [row["problem"] for row in json.loads((DATA / "seeds" / "deepscaler_math_train.json").read_text())]
    return texts


def _renumber(text: str, rng: random.Random) -> str:
    return _NUMBER.sub(lambda m: str(rng.randint(2, 999)), text)


def _one_word(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    at = rng.randrange(len(words))
    words[at] = rng.choice(("some", "each", "the", "every", "a"))
    return " ".join(words)


def make_pool(n: int, inject: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """(problems, indices of the injected benchmark items); deterministic for a seed."""
    from tasks.decontam.loading import load_benchmarks

    rng = random.Random(seed)
    base = seeds()
    pool: list[str] = []
    while len(pool) < n - inject:
        roll = rng.random()
        if roll < 0.5:  # spliced from two seeds
            a, b = rng.sample(base, 2)
            sa, sb = _SENTENCE.split(a), _SENTENCE.split(b)
            pool.append(" ".join(sa[: max(1, len(sa) // 2)] + sb[len(sb) // 2:]))
        elif roll < 0.9:  # a templated family of ~25 variants
            text = rng.choice(base)
            pool += [_renumber(text, rng) for _ in range(rng.randint(20, 30))]
        else:
            pool.append(_one_word(rng.choice(base), rng))
    pool = pool[: n - inject]
    items = load_benchmarks([str(DATA / "benchmarks")]).items
    injected = rng.sample(items, inject)
    where = sorted(rng.sample(range(n), inject))
    for position, item in zip(where, injected):
        text = item.problem if rng.random() < 0.5 else rng.choice(WRAPS).format(p=item.problem)
        pool.insert(position, text)
    return pool, where


def load_pool(home: Path, problems: list[str]) -> None:
    from schemas.records import Prompt
    from warehouse.home import Home
    from warehouse.lake import Lake

    at = datetime.now(UTC)
    with Lake(Home.resolve(str(home))) as lake:
        for start in range(0, len(problems), 200_000):
            chunk = problems[start:start + 200_000]
            ids = [hashlib.blake2b(f"bench\x1f{i}".encode(), digest_size=16).hexdigest()
                   for i in range(start, start + len(chunk))]
            k = len(chunk)
            table = pa.table({
                "prompt_id": ids, "source": ["bench"] * k, "source_file": ["pool"] * k,
                "source_id": [str(i + 1) for i in range(start, start + k)], "problem": chunk,
                "answer": [None] * k, "answer_raw": [None] * k, "domain": ["math"] * k, "text_hash": ids,
                "extra": [None] * k, "run_id": ["bench"] * k, "ingested_at": [at] * k})
            with lake.transaction():
                lake.insert_new(Prompt, table)


def run_cli(home: Path, extra: list[str], kill_after: float | None = None) -> dict:
    """`teachable decontaminate` in a child process; peak tree RSS sampled every 100 ms, its
    CPU-seconds and the load average around it (the machine is shared: wall time alone misleads)."""
    import resource

    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()
    command = ["nice", "-n", "5", str(ROOT / ".venv" / "bin" / "teachable"), "--home", str(home),
               "decontaminate", "--benchmarks", str(DATA / "benchmarks"), *extra]
    log = home.parent / f"cli-{time.time_ns()}.log"
    started = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                 env={**os.environ, "COLUMNS": "200"})
        peak, killed = 0.0, False
        while child.poll() is None:
            peak = max(peak, tree_rss_mb(child.pid))
            if kill_after is not None and time.perf_counter() - started > kill_after:
                child.send_signal(signal.SIGKILL)
                killed_at = datetime.now()
                child.wait()
                killed = True
                break
            time.sleep(0.1)
    text = log.read_text()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    result = {"seconds": round(time.perf_counter() - started, 1), "cpu_seconds": round(cpu, 1), "rc": child.returncode,
              "killed": killed, "peak_tree_rss_mb": round(peak),
              "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)], "log_tail": text[-3000:]}
    if killed:
        result["seconds_since_last_commit"] = since_last_commit(text, killed_at)
    return result


_COMMITTED = re.compile(r"(\d\d:\d\d:\d\d[.,]\d{3}).*committed \d+/\d+ prompts")


def since_last_commit(text: str, killed_at: datetime) -> float | None:
    """Work lost to the kill: seconds from the last 'committed' progress line to the kill
    (None: nothing was committed; then the whole run was lost)."""
    stamps = _COMMITTED.findall(text)
    if not stamps:
        return None
    clock = datetime.strptime(stamps[-1].replace(",", "."), "%H:%M:%S.%f").time()
    return round((killed_at - datetime.combine(killed_at.date(), clock)).total_seconds(), 1)


def commits(home: Path) -> list[dict]:
    """decontam_checked rows per run and their commit times (snapshots)."""
    from warehouse.home import Home
    from warehouse.lake import Lake

    with Lake(Home.resolve(str(home))) as lake:
        return lake.query("SELECT run_id, count(*) AS prompts FROM decontam_checked GROUP BY ALL").to_pylist()


def recall(home: Path, injected: list[int]) -> dict:
    from warehouse.home import Home
    from warehouse.lake import Lake

    with Lake(Home.resolve(str(home))) as lake:
        flagged = set(lake.query(
            "SELECT DISTINCT CAST(p.source_id AS INT) - 1 FROM contamination JOIN prompts AS p USING (prompt_id)"
        ).column(0).to_pylist())
        methods = lake.query("SELECT method, count(DISTINCT prompt_id) AS n FROM contamination GROUP BY ALL"
                             ).to_pylist()
    return {"injected_recall": round(len(flagged & set(injected)) / max(len(injected), 1), 4),
            "flagged_outside_injected": len(flagged - set(injected)), "by_method": methods}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1_000_000)
    parser.add_argument("--inject", type=int, default=1000, help="Benchmark items injected into the pool.")
    parser.add_argument("--kill-after", type=float, default=None, help="SIGKILL the first run after S seconds.")
    parser.add_argument("--keep", type=Path, default=None, help="Work folder to keep (default: a temporary one).")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="teachable-decontam-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    try:
        started = time.perf_counter()
        problems, injected = make_pool(args.prompts, min(args.inject, args.prompts // 10))
        load_pool(home, problems)
        build_s = round(time.perf_counter() - started, 1)
        del problems
        result: dict = {"bench": "decontam", "prompts": args.prompts, "pool_build_seconds": build_s}
        if args.kill_after is not None:
            first = run_cli(home, [], kill_after=args.kill_after)
            done = commits(home)
            checked = sum(r["prompts"] for r in done)
            result["killed_run"] = {**first, "committed_prompts": checked}
        full = run_cli(home, [])
        result["run"] = full
        total_checked = sum(r["prompts"] for r in commits(home))
        pending = args.prompts - (result.get("killed_run", {}).get("committed_prompts", 0))
        result["prompts_per_s"] = round(pending / full["seconds"]) if full["seconds"] else 0
        result["checked_total"] = total_checked
        result.update(recall(home, injected))
        result["targets"] = {"prompts_per_s": 2000, "peak_tree_rss_mb": 3072, "lost_seconds": 60}
        lost = result.get("killed_run", {}).get("seconds_since_last_commit", 0)
        result["meets_targets"] = (result["prompts_per_s"] >= 2000 and full["peak_tree_rss_mb"] <= 3072
                                   and full["rc"] == 0 and lost is not None and lost <= 60)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
