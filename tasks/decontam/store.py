"""Tasks layer (decontam): every query of the decontaminate and recheck stages.

What is pending under a check key (prompts, or published texts: accepted rewrites and kept
traces), what earlier runs stored (item vectors, the pool allow-list) and the hits per
benchmark and method. Writes go through `Lake.insert_records` / `insert_new` in the stages.

Publish reads `contamination` itself (stages never import each other); the shape it needs:
a record is left out when `EXISTS (SELECT 1 FROM contamination c WHERE c.prompt_id = ?)`,
and `coalesce(c.target, 'problem')` says which text matched: `problem` (the prompt),
`rewrite` (its accepted rewrite) or `answer` (a trace's answer; `teacher`, `sample_index`
name the trace, '' and -1 otherwise). What was checked is in `decontam_rechecked`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from warehouse.lake import Lake


def pending_prompts(lake: Lake, key: str) -> pa.Table:
    """Prompts without a duplicates row, not yet checked under `key`, in prompt_id order (the
    chunks, and so the results, are the same whoever maps them)."""
    return lake.query(
        "SELECT p.prompt_id, p.problem, p.answer FROM prompts AS p "
        "WHERE NOT EXISTS (SELECT 1 FROM duplicates AS d WHERE d.prompt_id = p.prompt_id) "
        "AND NOT EXISTS (SELECT 1 FROM decontam_checked AS c "
        "                WHERE c.check_key = ? AND c.prompt_id = p.prompt_id) ORDER BY p.prompt_id",
        [key],
    )


def checked_count(lake: Lake, key: str) -> int:
    return int(lake.query("SELECT count(*) FROM decontam_checked WHERE check_key = ?", [key]).column(0)[0].as_py())


def cached_vectors(lake: Lake, model: str) -> dict[str, np.ndarray]:
    table = lake.query("SELECT text_hash, vector FROM decontam_embeddings WHERE model = ?", [model])
    return {h: np.asarray(v, np.float32) for h, v in zip(table.column(0).to_pylist(), table.column(1).to_pylist())}


def stored_allowlist(lake: Lake, key: str) -> frozenset[str]:
    """Pool boilerplate learned by earlier finished runs (those with a `runs` row): what a
    killed run learned is left out, so the run that resumes it checks its chunks as the
    uninterrupted run would have (each chunk learns its own on top of these)."""
    table = lake.query("SELECT ngram FROM decontam_allowlist WHERE check_key = ? AND reason = 'pool' "
                       "AND run_id IN (SELECT run_id FROM runs)", [key])
    return frozenset(table.column(0).to_pylist())


def hits_table(lake: Lake, run_id: str) -> list[dict]:
    """Contaminated prompts per benchmark, method and target: all known, and new in `run_id`."""
    rows = lake.query(
        "SELECT benchmark, method, coalesce(target, 'problem') AS checked, count(DISTINCT prompt_id) AS prompts, "
        "count(DISTINCT prompt_id) FILTER (WHERE run_id = ?) AS new "
        "FROM contamination GROUP BY ALL ORDER BY benchmark, method, checked",
        [run_id],
    ).to_pylist()
    return [{k: int(v) if isinstance(v, int) else v for k, v in row.items()} for row in rows]


def pending_published(lake: Lake, key: str) -> pa.Table:
    """Published texts not yet rechecked under `key`: the accepted rewrite of every prompt with a
    kept trace (target `rewrite`) and every kept trace's answer part (target `answer`), of
    prompts no `contamination` row excludes already; in a stable order."""
    return lake.query(
        "WITH kept AS (SELECT * FROM traces WHERE status = 'kept' AND NOT EXISTS "
        "  (SELECT 1 FROM contamination c WHERE c.prompt_id = traces.prompt_id)), "
        "texts AS ("
        "  SELECT r.prompt_id, 'rewrite' AS target, '' AS teacher, -1 AS sample_index, "
        "         r.rewritten_problem AS text, r.answer FROM rewrites r "
        "  WHERE r.status = 'accepted' AND r.rewritten_problem IS NOT NULL "
        "    AND r.prompt_id IN (SELECT prompt_id FROM kept) "
        "  UNION ALL "
        "  SELECT k.prompt_id, 'answer', k.teacher, k.sample_index, "
        "         coalesce(k.solution, k.final_answer, ''), k.final_answer FROM kept k) "
        "SELECT t.* FROM texts t WHERE NOT EXISTS (SELECT 1 FROM decontam_rechecked d "
        "  WHERE d.check_key = ? AND d.prompt_id = t.prompt_id AND d.target = t.target "
        "    AND d.teacher = t.teacher AND d.sample_index = t.sample_index) "
        "ORDER BY t.prompt_id, t.target, t.teacher, t.sample_index",
        [key],
    )


def rechecked_count(lake: Lake, key: str) -> int:
    return int(lake.query("SELECT count(*) FROM decontam_rechecked WHERE check_key = ?",
                          [key]).column(0)[0].as_py())
