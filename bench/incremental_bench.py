"""Benchmark: an incremental curate run (curate issue).

Target: after a full curate run over a 100k-prompt pool, adding 1% new seeds and running
curate again takes <= 5% of the full run's time. Both runs are the real curate flow (Prefect,
DuckLake, every stage: ingest, dedup, difficulty, rewrite, traces, publish) in this process,
timed after Prefect's server is already up. The LLM endpoint is the deterministic oracle
server (tests/support/oracle.py) on loopback, so the time measured is the pipeline's own
(selection of new work, cache lookups, warehouse writes, release), not a model's; with a real
model the full run grows with the number of prompts and the rerun far less, so the ratio only
improves. Decontamination is left out: it needs ../shared's benchmarks (its incremental
path is measured by the decontam bench).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

SPEC = "procedural://?n={n}&seed=17&levels=1-5"


def write_seeds(folder: Path, pool: int, new: int) -> dict[str, str]:
    """The pool and the increment as two JSONL files; returns {problem: answer} for the oracle."""
    from tasks.ingest.procedural import ProceduralSpec, generate

    records = list(generate(ProceduralSpec.parse(SPEC.format(n=pool + new))))
    for name, part in (("pool.jsonl", records[:pool]), ("new.jsonl", records[pool:])):
        with open(folder / name, "w") as f:
            for r in part:
                f.write(json.dumps({"id": r["id"], "problem": r["problem"], "answer": r["answer"]}) + "\n")
    return {r["problem"]: r["answer"] for r in records}


def config(path: Path, base_url: str, files: list[Path], n: int) -> Path:
    engine = {"kind": "openai", "base_url": base_url, "model": "oracle", "max_concurrency": 16}
    path.write_text(yaml.safe_dump({
        "name": "incremental",
        "sources": [{"name": "seeds", "paths": [str(f) for f in files]}],
        "difficulty": {"base": engine, "n": n, "max_tokens": 64},
        "rewrite": {"rewriter": engine, "attempts": 1, "max_tokens": 64},
        "traces": {"teacher": engine, "k": 1, "max_tokens": 64, "bands": ["teachable", "too_easy"]},
        # The bench measures every stage but decontamination: the release says it is not decontaminated.
        "publish": {"license": "mit", "allow_undecontaminated": True},
    }))
    return path


def timed_curate(config_path: Path, home: Path) -> tuple[float, dict]:
    from flows.curate import curate_flow

    started = time.perf_counter()
    outcome = curate_flow(config_path=str(config_path), home=str(home))
    return time.perf_counter() - started, outcome


def warm_up_prefect() -> None:
    from prefect import flow

    @flow(name="bench-warm-up")
    def nothing() -> None:
        return None

    nothing()


@contextmanager
def oracle_endpoint(spec: str) -> Iterator[str]:
    """The oracle server in a process of its own, so it does not share this process's GIL."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.oracle_server", spec], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait()


def llm_requests(stages: dict) -> int:
    return sum(r.get("llm", {}).get("requests_ok", 0) for r in stages.values() if isinstance(r, dict))


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=100_000,
                        help="prompts in the first run (100k: the full run takes ~17 min on 2 cores)")
    parser.add_argument("--new-share", type=float, default=0.01, help="new prompts added for the rerun, as a share of the pool")
    parser.add_argument("--samples", type=int, default=1,
                        help="difficulty samples per prompt (the rerun's cost does not grow with it)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the work folder here instead of a temporary one")
    args = parser.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="teachable-incr-"))
    work.mkdir(parents=True, exist_ok=True)
    new = max(1, round(args.pool * args.new_share))
    try:
        write_seeds(work, args.pool, new)
        warm_up_prefect()
        with oracle_endpoint(SPEC.format(n=args.pool + new)) as base_url:
            full_s, full = timed_curate(config(work / "full.yaml", base_url, [work / "pool.jsonl"], args.samples), work / "home")
            rerun_s, rerun = timed_curate(
                config(work / "rerun.yaml", base_url, [work / "pool.jsonl", work / "new.jsonl"], args.samples), work / "home")
        full_requests, rerun_requests = (llm_requests(stages["stages"]) for stages in (full, rerun))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    ratio = rerun_s / full_s
    result = {
        "bench": "incremental", "pool": args.pool, "new": new, "samples": args.samples,
        "full_s": round(full_s, 1), "rerun_s": round(rerun_s, 1), "ratio": round(ratio, 4),
        "full_llm_requests": full_requests, "rerun_llm_requests": rerun_requests,
        "full_funnel": full["funnel"], "rerun_funnel": rerun["funnel"],
        "release_rows": [full["stages"]["publish"]["rows"], rerun["stages"]["publish"]["rows"]],
        "target": "rerun <= 0.05 x full", "meets_targets": ratio <= 0.05,
    }
    print(json.dumps({k: v for k, v in result.items() if "funnel" not in k}, indent=2))
    for row in rerun["funnel"]:
        print(f"  rerun {row['stage']:>13}: in {row['in']:>7}  kept {row['kept']:>7}  dropped {row['dropped']:>6}  {row['reasons']}")
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(sys.argv[1:])
