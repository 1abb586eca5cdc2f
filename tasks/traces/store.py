"""Tasks layer (traces): the stage's SQL, the prompts that still need traces from a teacher."""

from __future__ import annotations

from warehouse.lake import Lake


def difficulty_models(lake: Lake) -> list[str]:
    return [r["model"] for r in lake.query("SELECT DISTINCT model FROM difficulty ORDER BY model").to_pylist()]


def select_prompts(lake: Lake, bands: list[str], include_rewritten: bool, teacher: str,
                   limit: int | None, base_model: str) -> list[dict]:
    """Kept, uncontaminated prompts that have no trace from `teacher` yet, oldest first, banded
    by `base_model` (never another base model's band). A prompt with an accepted rewrite is
    traced as its rewrite, and only when the rewrite's own band (`<id>:rewrite`, scored by the
    difficulty stage like any prompt) is wanted; an unscored rewrite waits for the next run."""
    bands = bands or ["__none__"]
    marks = ", ".join("?" * len(bands))
    rewritten = f"(r.prompt_id IS NOT NULL AND rd.band IN ({marks}))" if include_rewritten else "FALSE"
    limited = f"LIMIT {int(limit)}" if limit else ""
    return lake.query(
        f"""
        WITH d AS (SELECT prompt_id, band, label FROM difficulty WHERE model = ?),
             r AS (SELECT prompt_id, rewritten_problem, answer FROM rewrites WHERE status = 'accepted')
        SELECT p.prompt_id, coalesce(r.rewritten_problem, p.problem) AS problem,
               CASE WHEN r.prompt_id IS NULL THEN coalesce(p.answer, d.label)
                    ELSE coalesce(r.answer, rd.label) END AS label, p.domain, p.extra
        FROM prompts p LEFT JOIN d USING (prompt_id) LEFT JOIN r USING (prompt_id)
             LEFT JOIN d AS rd ON rd.prompt_id = p.prompt_id || ':rewrite'
        WHERE ((r.prompt_id IS NULL AND d.band IN ({marks})) OR {rewritten})
          AND NOT EXISTS (SELECT 1 FROM duplicates x WHERE x.prompt_id = p.prompt_id)
          AND NOT EXISTS (SELECT 1 FROM contamination c WHERE c.prompt_id = p.prompt_id)
          AND NOT EXISTS (SELECT 1 FROM traces t WHERE t.prompt_id = p.prompt_id AND t.teacher = ?)
        ORDER BY p.ingested_at, p.prompt_id {limited}
        """,
        [base_model, *bands, *(bands if include_rewritten else []), teacher],
    ).to_pylist()
