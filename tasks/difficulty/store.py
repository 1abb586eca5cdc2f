"""Tasks layer (difficulty): every read and write of the difficulty stage, through `warehouse.lake.Lake`.

Prompts to score are kept (not duplicate, not contaminated) prompts without a final `difficulty`
row for the base model; a row banded `incomplete` is not final (a rerun with more room scores
it again and replaces it). Writes go through `Lake.insert_new`, one transaction per chunk.
"""

from __future__ import annotations

import pyarrow as pa

from schemas.records import Difficulty, DifficultySample
from warehouse.lake import Lake

_SELECT = """
SELECT p.prompt_id, p.problem, p.answer, p.domain, p.extra FROM prompts p
WHERE NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.prompt_id = p.prompt_id)
  AND NOT EXISTS (SELECT 1 FROM contamination c WHERE c.prompt_id = p.prompt_id)
  AND NOT EXISTS (SELECT 1 FROM difficulty f WHERE f.prompt_id = p.prompt_id AND f.model = ?
                  AND f.band <> 'incomplete')
"""


def select_prompts(lake: Lake, model: str, sources: list[str] | None, limit: int | None) -> list[dict]:
    sql, params = _SELECT, [model]
    if sources:
        sql += f"  AND p.source IN ({', '.join('?' * len(sources))})\n"
        params += sources
    sql += "ORDER BY p.ingested_at, p.prompt_id" + (f" LIMIT {int(limit)}" if limit else "")
    return lake.query(sql, params).to_pylist()


def write_chunk(lake: Lake, model: str, sample_rows: list[dict], summaries: list[dict]) -> None:
    """One snapshot: the chunk's samples and summaries (replacing earlier `incomplete` rows)."""
    with lake.transaction():
        if summaries:  # a prompt banded `incomplete` before is scored afresh: its old rows go
            ids = [row["prompt_id"] for row in summaries]
            marks = ", ".join("?" * len(ids))
            stale = (f"SELECT prompt_id FROM difficulty WHERE model = ? AND band = 'incomplete' "
                     f"AND prompt_id IN ({marks})")
            lake.con.execute(f"DELETE FROM difficulty_samples WHERE model = ? AND purpose = 'score' "
                             f"AND prompt_id IN ({stale})", [model, model, *ids])
            lake.con.execute(f"DELETE FROM difficulty WHERE model = ? AND band = 'incomplete' "
                             f"AND prompt_id IN ({marks})", [model, *ids])
        if sample_rows:
            lake.insert_new(DifficultySample, pa.Table.from_pylist(sample_rows))
        if summaries:
            lake.insert_new(Difficulty, pa.Table.from_pylist(summaries))
