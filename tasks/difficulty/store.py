"""Tasks layer (difficulty): every read and write of the difficulty stage, through `warehouse.lake.Lake`.

Prompts to score are kept (not duplicate, not contaminated) prompts and accepted rewrites without
a `difficulty` row for the base model, that something can label (an answer, tests, a reference
model, a judge); a row banded `incomplete` is scored again, and replaced, with
`rescore_incomplete` (after raising max_tokens). Writes go through `Lake.insert_new`, one transaction per chunk.
"""

from __future__ import annotations

import pyarrow as pa

from schemas.arrow import arrow_schema
from schemas.difficulty import DifficultyRating
from schemas.records import Difficulty, DifficultySample
from warehouse.lake import Lake

REWRITE_SUFFIX = ":rewrite"  # an accepted rewrite is scored as its own prompt: <seed id>:rewrite
# Seeds and accepted rewrites (lineage in seed_prompt_id), kept and uncontaminated, without a
# final row for the base model; seeds first.
_SELECT = f"""
WITH pool AS (
    SELECT p.prompt_id, p.problem, p.answer, p.domain, p.extra, CAST(NULL AS VARCHAR) AS seed_prompt_id,
           p.source, p.ingested_at, 0 AS rank
    FROM prompts p
    UNION ALL
    SELECT p.prompt_id || '{REWRITE_SUFFIX}', w.rewritten_problem, w.answer, p.domain, NULL, p.prompt_id,
           p.source, p.ingested_at, 1
    FROM rewrites w JOIN prompts p USING (prompt_id)
    WHERE w.status = 'accepted' AND w.rewritten_problem IS NOT NULL
)
SELECT q.prompt_id, q.problem, q.answer, q.domain, q.extra, q.seed_prompt_id FROM pool q
WHERE NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.prompt_id = coalesce(q.seed_prompt_id, q.prompt_id))
  AND NOT EXISTS (SELECT 1 FROM contamination c WHERE c.prompt_id = coalesce(q.seed_prompt_id, q.prompt_id))
  AND NOT EXISTS (SELECT 1 FROM difficulty f WHERE f.prompt_id = q.prompt_id AND f.model = ?
                  AND (f.band <> 'incomplete' OR NOT ?))
"""


def _labellable(reference: bool, judge: bool, rated: bool) -> str:
    """SQL: the prompt has something to check samples against under these settings (checkable()
    in tasks.verify.domains, plus what a reference model, a judge or ratings add)."""
    answered = "coalesce(q.answer, '') <> ''"
    return (f"(({answered} AND (q.domain IS DISTINCT FROM 'open' OR {judge})) OR q.domain = 'code' "
            f"OR ({reference} AND q.domain IS DISTINCT FROM 'open') OR {rated})")


def _where(model: str, sources: list[str] | None, rescore_incomplete: bool) -> tuple[str, list]:
    sql, params = _SELECT, [model, rescore_incomplete]
    if sources:
        sql += f"  AND q.source IN ({', '.join('?' * len(sources))})\n"
        params += sources
    return sql, params


def select_prompts(lake: Lake, model: str, sources: list[str] | None, limit: int | None, *,
                   rescore_incomplete: bool = False, labellable: tuple[bool, bool, bool] | None = None) -> list[dict]:
    """Prompts to score, oldest first; with `labellable` (reference, judge, rated) only those that
    can be banded, so prompts that would stay unlabelled never take the places of `limit`."""
    sql, params = _where(model, sources, rescore_incomplete)
    if labellable is not None:
        sql += f"  AND {_labellable(*labellable)}\n"
    sql += "ORDER BY q.rank, q.ingested_at, q.prompt_id" + (f" LIMIT {int(limit)}" if limit else "")
    return lake.query(sql, params).to_pylist()


def count_unlabelled(lake: Lake, model: str, sources: list[str] | None,
                     labellable: tuple[bool, bool, bool]) -> dict[str, int]:
    """Per domain: kept prompts nothing can label under these settings (counted, not banded)."""
    sql, params = _where(model, sources, False)
    sql = f"SELECT coalesce(domain, 'math'), count(*) FROM ({sql}  AND NOT {_labellable(*labellable)}\n) GROUP BY 1"
    return dict(lake.con.execute(sql, params).fetchall())


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
