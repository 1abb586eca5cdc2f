"""Tasks layer (difficulty): every read and write of the difficulty stage, through `warehouse.lake.Lake`.

Prompts to score are kept (not duplicate, not contaminated) prompts without a final `difficulty`
row for the base model; a row banded `incomplete` is not final (a rerun with more room scores
it again and replaces it). Writes go through `Lake.insert_new`, one transaction per chunk.
"""

from __future__ import annotations

import pyarrow as pa

from schemas.arrow import arrow_schema
from schemas.difficulty import DifficultyRating
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


def write_chunk(lake: Lake, model: str, sample_rows: list[dict], summaries: list[dict],
                ratings: list[dict] | None = None) -> None:
    """One snapshot: the chunk's samples, summaries (replacing earlier `incomplete` rows), ratings."""
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
            lake.insert_new(DifficultySample, _table(DifficultySample, sample_rows))
        if summaries:
            lake.insert_new(Difficulty, _table(Difficulty, summaries))
        if ratings:
            lake.insert_new(DifficultyRating, _table(DifficultyRating, ratings))


def _table(model, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=arrow_schema(model))  # a key missing in a row is null
