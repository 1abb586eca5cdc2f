"""Tasks layer (dedup): what one dedup run reports, and the pending prompts it works on.

`DedupReport` is the stage's report (funnel, counters, timings); `Pending` holds the prompts
not yet ruled out as exact duplicates, in keep-preference order. Data only, no I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa

from tasks.dedup.shingles import ShingleSets
from tasks.runs import Funnel


@dataclass
class DedupReport:
    run_id: str
    params_key: str
    considered: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # by method: exact, minhash, embedding
    pool_before: int = 0
    no_shingles: int = 0
    candidate_pairs: int = 0
    verified_pairs: int = 0
    rejected: Counter = field(default_factory=Counter)  # candidate pairs that were not edges, why
    written: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def totals(self) -> dict:
        data = asdict(self)
        data["dropped"] = {m: self.dropped.get(m, 0) for m in ("exact", "minhash", "embedding")}
        data["rejected"] = dict(self.rejected)
        return data

    as_dict = totals

    def funnel(self) -> Funnel:
        return Funnel(self.considered, self.kept, dict(self.dropped))


@dataclass
class Pending:
    """Pending prompts that are not exact duplicates; id = position = keep-preference order.
    Shingle sets and texts are in the order they were streamed (`row` maps id to it); the
    texts are kept only when a later step needs them (semantic dedup)."""

    prompt_ids: pa.Array
    keys: np.ndarray  # (prompts x bands) int64 LSH band keys
    has_shingles: np.ndarray  # bool per prompt
    numbers: np.ndarray  # uint64 number hash per prompt
    sets: ShingleSets  # shingle set per streamed row
    row: np.ndarray  # id -> streamed row
    texts: pa.ChunkedArray | None = None  # problems per streamed row, when kept

    def __len__(self) -> int:
        return len(self.prompt_ids)

    def problems(self, ids: np.ndarray) -> list[str]:
        if self.texts is None:
            raise ValueError("the pending texts were not kept")
        return self.texts.take(pa.array(self.row[ids])).to_pylist() if len(ids) else []

    def prompt_id(self, i: int) -> str:
        return self.prompt_ids[i].as_py()
