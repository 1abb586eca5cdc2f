"""Tasks layer (rewrite): every read and write of the rewrite stage, through `warehouse.lake.Lake`.

Candidates come from kept (not duplicate, not contaminated) prompts without a `rewrites` row;
rewrites are written in one transaction through `Lake.insert_new` (idempotent on prompt_id).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from schemas.records import Rewrite
from warehouse.lake import Lake

_UNREWRITTEN = """
SELECT p.prompt_id, p.problem, p.answer, p.domain FROM prompts p
WHERE NOT EXISTS (SELECT 1 FROM duplicates x WHERE x.prompt_id = p.prompt_id)
  AND NOT EXISTS (SELECT 1 FROM contamination c WHERE c.prompt_id = p.prompt_id)
  AND NOT EXISTS (SELECT 1 FROM rewrites w WHERE w.prompt_id = p.prompt_id)
ORDER BY p.ingested_at, p.prompt_id
"""


def unrewritten(lake: Lake) -> Iterator[dict]:
    yield from lake.query(_UNREWRITTEN).to_pylist()


def write_rewrites(lake: Lake, rows: list[dict]) -> None:
    if rows:
        with lake.transaction():
            lake.insert_new(Rewrite, pa.Table.from_pylist(rows))
