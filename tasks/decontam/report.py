"""Tasks layer (decontam): what a decontaminate run did, as counters and table rows.

`DecontamReport` is the stage's return value: the flow stores `stats()` in `runs`, and the CLI
and the Prefect artifact show `hits` (prompts per benchmark and method). `hits_table` reads
the warehouse so that a rerun that found nothing new still shows what is known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tasks.runs import Funnel
from warehouse.lake import Lake


@dataclass
class DecontamReport:
    run_id: str
    check_key: str
    benchmarks: dict[str, int]  # items per benchmark
    skipped_items: dict[str, int] = field(default_factory=dict)  # records without a problem
    checked: int = 0  # prompts checked in this run
    already_checked: int = 0  # prompts skipped: checked before under the same key
    contaminated: int = 0  # prompts of this run with at least one contamination row
    reviews: int = 0  # borderline pairs stored
    judged: dict[str, int] = field(default_factory=dict)  # verdict -> pairs
    embedded: int = 0  # prompts the embedding model saw
    allowlist: dict[str, int] = field(default_factory=dict)  # reason -> n-grams
    rows: dict[str, int] = field(default_factory=dict)  # table -> new rows
    seconds: dict[str, float] = field(default_factory=dict)  # step -> wall time
    hits: list[dict] = field(default_factory=list)  # {benchmark, method, prompts, new}

    def stats(self) -> dict:
        return asdict(self)

    def funnel(self) -> Funnel:
        return Funnel(self.checked, self.checked - self.contaminated, {"contaminated": self.contaminated})

    def prompts_per_second(self) -> float:
        total = sum(self.seconds.values())
        return round(self.checked / total, 1) if total else 0.0


def hits_table(lake: Lake, run_id: str) -> list[dict]:
    """Contaminated prompts per benchmark and method: all known, and new in `run_id`."""
    rows = lake.query(
        "SELECT benchmark, method, count(DISTINCT prompt_id) AS prompts, "
        "count(DISTINCT prompt_id) FILTER (WHERE run_id = ?) AS new "
        "FROM contamination GROUP BY ALL ORDER BY benchmark, method",
        [run_id],
    ).to_pylist()
    return [{k: int(v) if isinstance(v, int) else v for k, v in row.items()} for row in rows]
