"""Benchmark: `teachable ingest` of a realistic JSONL pool through the CLI, at 200k and 1M records.

Targets (issue 12): >= 50k records/s wall for the whole command (process start included) and
peak RSS <= 1.5 GB, the command and the worker processes it starts together. The pool is built
from real seed text when ../shared/data/seeds is present (GSM8K and MATH problems), else from
procedural templates: 40% numbers-changed variants of one
seed (families of ~25), half spliced from two seeds, 10% one-word near-duplicates, GSM8K-style
(`question`, `answer` with `####`) and MATH-style (`problem`, `answer`, extra fields) records;
one line in 1000 is broken so quarantine is exercised. The baseline, run in this process on the
same file, is the bare parse loop (read lines + orjson.loads): the floor any JSONL ingest pays.
CPU seconds are reported beside wall seconds because the bench machine is shared: the command's
own and its whole process tree's (large JSON lines files are parsed by worker processes), with
the load average when it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "data" / "seeds"
_NUM = re.compile(r"\d+")
TARGET_RATE, TARGET_RSS_MB = 50_000, 1536


def seed_records() -> list[dict]:
    """GSM8K + MATH seed records from the shared data, else procedural problems."""
    records: list[dict] = []
    gsm = SEEDS / "gsm8k_train.jsonl"
    math = SEEDS / "deepscaler_math_train.json"
    if gsm.exists():
        records += [orjson.loads(line) for line in gsm.read_bytes().splitlines() if line.strip()]
    if math.exists():
        records += json.loads(math.read_text())
    if not records:
        from tasks.ingest.procedural import ProceduralSpec, generate

        records = list(generate(ProceduralSpec.parse("procedural://?n=5000&seed=0")))
    return records


def _renumber(text: str, rng: random.Random) -> str:
    return _NUM.sub(lambda m: str(rng.randint(2, 10 ** max(1, len(m.group())))), text)


def _problem_key(record: dict) -> str:
    return "question" if "question" in record else "problem"


def _variant(seeds: list[dict], rng: random.Random, i: int) -> dict:
    roll = rng.random()
    base = dict(seeds[(i // 25) % len(seeds)] if roll < 0.4 else rng.choice(seeds))
    key = _problem_key(base)
    text = str(base.get(key, ""))
    if roll < 0.4:  # numbers-changed family member
        text = _renumber(text, rng)
    elif roll < 0.9:  # spliced from two seeds
        other_seed = rng.choice(seeds)
        other = str(other_seed.get(_problem_key(other_seed)) or "")
        text = text[: len(text) // 2] + " " + other[len(other) // 2:]
    else:  # one-word near-duplicate
        words = text.split()
        if words:
            words[rng.randrange(len(words))] = rng.choice(("also", "then", "exactly", "all"))
        text = " ".join(words)
    base[key] = f"{text} (#{i})" if roll >= 0.4 else text
    return base


def write_pool(path: Path, n: int, seed: int = 0, bad_every: int = 1000) -> None:
    """n realistic records as JSON lines; one in `bad_every` lines is broken JSON."""
    rng = random.Random(seed)
    seeds = seed_records()
    with open(path, "wb") as handle:
        for i in range(n):
            if i % bad_every == bad_every - 1:
                handle.write(b'{"question": "broken\n')
                continue
            handle.write(orjson.dumps(_variant(seeds, rng, i)) + b"\n")


def _adopt_orphans() -> bool:
    """Make this process the reaper of every process the command leaves behind (Linux), so the
    CPU time of worker processes counts: they are not the command's own children."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap_all(deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.02)


def _read_back(handle) -> str:
    handle.seek(0)
    return handle.read().decode(errors="replace")


def _cpu(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def run_cli(path: Path, home: Path, workers: int | None = None) -> dict:
    """The command as a user types it, timed from fork to exit; RSS is the command's own peak
    and the peak of the sum over it and the processes it started (sampled); CPU seconds are its
    own and those of its whole process tree (worker processes included). `workers`: at most this
    many worker processes (0: all in one process), else the command's own choice."""
    import resource
    import threading

    from bench.measure import tree_rss_mb

    exe = Path(sys.executable).with_name("teachable")
    cmd = [str(exe), "--home", str(home), "ingest", str(path), "--source", "bench"]
    adopted = _adopt_orphans()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        start = time.perf_counter()
        env = dict(os.environ, **({"TEACHABLE_INGEST_WORKERS": str(workers)} if workers is not None else {}))
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, env=env)
        peak_tree = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                peak_tree[0] = max(peak_tree[0], tree_rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        _reap_all()
        tree = resource.getrusage(resource.RUSAGE_CHILDREN)
        out, err = _read_back(out_file), _read_back(err_file)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"ingest failed: {err.strip()[-2000:]}")
    totals = re.search(r"read (\d+) = ingested (\d+) \+ unchanged (\d+) \+ quarantined (\d+)", out)
    read = int(totals.group(1)) if totals else 0
    return {"records": read, "seconds": round(seconds, 2), "records_per_s": round(read / seconds),
            "cpu_seconds": round(_cpu(usage), 2),
            "tree_cpu_seconds": round(_cpu(tree) - _cpu(before), 2) if adopted else None,
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "tree_peak_rss_mb": round(peak_tree[0]),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "printed": totals.group(0) if totals else out[-400:]}


def count_rows(home: Path) -> dict:
    from warehouse.home import Home
    from warehouse.lake import Lake

    with Lake(Home.resolve(home), read_only=True) as lake:
        return {t: lake.count(t) for t in ("prompts", "quarantine")}


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


def bench_size(work: Path, n: int, workers: int | None = None) -> dict:
    pool = work / f"pool-{n}.jsonl"
    write_pool(pool, n)
    ingest = run_cli(pool, work / f"home-{n}", workers)
    rows = count_rows(work / f"home-{n}")
    baseline = bench_parse_baseline(pool)
    size_mb = round(pool.stat().st_size / 2**20)
    pool.unlink()
    return {"records": n, "file_mb": size_mb, "ingest": ingest,
            "warehouse_rows": rows, "baseline_parse_only": baseline,
            "ratio_vs_parse_only": round(ingest["records_per_s"] / baseline["records_per_s"], 3),
            "meets_targets": ingest["records_per_s"] >= TARGET_RATE
            and max(ingest["peak_rss_mb"], ingest["tree_peak_rss_mb"]) <= TARGET_RSS_MB}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=None,
                        help="at most this many ingest worker processes (0: one process; default: ingest's choice)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="teachable-bench-"))
    try:
        sizes = {str(n): bench_size(work, n, args.workers) for n in args.records}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"bench": "ingest", "seed_text": SEEDS.exists(), "workers": args.workers, "sizes": sizes,
              "targets": {"records_per_s": TARGET_RATE, "peak_rss_mb": TARGET_RSS_MB},
              "meets_targets": all(s["meets_targets"] for s in sizes.values())}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
