"""`make bench`: run every benchmark script and write the results to bench/results/latest.json.

Each benchmark reports absolute figures plus a ratio against a baseline measured in the same
process, so results compare across machines; targets come from the issues.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import ingest_bench  # noqa: E402

BENCHES = {"ingest": ingest_bench.main}


def main() -> int:
    chosen = sys.argv[1:] or list(BENCHES)
    results = {}
    for name in chosen:
        print(f"== {name}", flush=True)
        results[name] = BENCHES[name]([])
    out = Path(__file__).parent / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    failed = [n for n, r in results.items() if not r.get("meets_targets", True)]
    print(f"results in {out}; below target: {', '.join(failed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
