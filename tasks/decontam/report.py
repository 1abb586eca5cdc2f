"""Tasks layer (decontam): what a decontaminate run did, as counters and table rows.

`DecontamReport` is the stage's return value: the flow stores `stats()` in `runs`, and the CLI
and the Prefect artifact show `hits` (prompts per benchmark and method), which `store.hits_table`
reads from the warehouse so that a rerun that found nothing new still shows what is known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tasks.runs import Funnel


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
    shortlist_cut: int = 0  # agreeing prompts the embedding bound left to the other layers
    siblings: dict[str, int] = field(default_factory=dict)  # benchmark -> sibling pairs (any policy)
    sibling_only: int = 0  # contaminated prompts whose only finding is a sibling (policy drop)
    allowlist: dict[str, int] = field(default_factory=dict)  # reason -> n-grams
    rows: dict[str, int] = field(default_factory=dict)  # table -> new rows
    seconds: dict[str, float] = field(default_factory=dict)  # step -> wall time
    hits: list[dict] = field(default_factory=list)  # {benchmark, method, prompts, new}
    benchmark_files: list[dict] = field(default_factory=list)  # {name, source, sha256, items} loaded

    def as_dict(self) -> dict:
        return asdict(self)

    def funnel(self) -> Funnel:
        dropped = {"contaminated": self.contaminated - self.sibling_only, "benchmark_sibling": self.sibling_only}
        return Funnel(self.checked, self.checked - self.contaminated, {k: v for k, v in dropped.items() if v})

    def prompts_per_second(self) -> float:
        total = sum(self.seconds.values())
        return round(self.checked / total, 1) if total else 0.0
