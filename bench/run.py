"""`make bench`: run every benchmark script and write the results to bench/results/latest.json.

Each benchmark reports absolute figures plus a ratio against a baseline measured in the same
process, so results compare across machines; targets come from the issues.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import importlib  # noqa: E402

# name -> module in bench/ with main(argv) -> dict (imported only when run)
BENCHES = {"ingest": "ingest_bench", "dedup": "dedup_bench", "decontam": "decontam_bench",
           "difficulty": "difficulty_bench", "incremental": "incremental_bench"}


def main() -> int:
    # `run.py NAME... -- ARGS`: ARGS go to every chosen bench (e.g. incremental -- --pool 20000).
    argv = sys.argv[1:]
    names, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    chosen = names or list(BENCHES)
    results = {}
    for name in chosen:
        print(f"== {name}", flush=True)
        if name not in BENCHES:
            print(f"unknown benchmark {name!r}: choose from {', '.join(BENCHES)}", file=sys.stderr)
            return 2
        results[name] = importlib.import_module(f"bench.{BENCHES[name]}").main(extra)
    out = Path(__file__).parent / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    kept = json.loads(out.read_text()) if out.exists() else {}  # a partial run keeps the others' figures
    out.write_text(json.dumps({**kept, **results}, indent=2))
    failed = [n for n, r in results.items() if not r.get("meets_targets", True)]
    print(f"results in {out}; below target: {', '.join(failed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
