"""Tasks layer (traces): the stage's SQL, the prompts that still need traces from a teacher."""

from __future__ import annotations

from warehouse.lake import Lake


def select_prompts(lake: Lake, bands: list[str], include_rewritten: bool, teacher: str,
                   limit: int | None) -> list[dict]:
    """Kept, uncontaminated prompts of the wanted bands (or with an accepted rewrite) that have
    no trace from `teacher` yet, oldest first; the accepted rewrite replaces problem and label."""
    bands = bands or ["__none__"]
    rewritten = "OR r.prompt_id IS NOT NULL" if include_rewritten else ""
    limited = f"LIMIT {int(limit)}" if limit else ""
    return lake.query(
        f"""
        WITH d AS (SELECT prompt_id, any_value(band) AS band, any_value(label) AS label
                   FROM difficulty GROUP BY prompt_id),
             r AS (SELECT prompt_id, rewritten_problem, answer FROM rewrites WHERE status = 'accepted')
        SELECT p.prompt_id, coalesce(r.rewritten_problem, p.problem) AS problem,
               coalesce(r.answer, p.answer, d.label) AS label, p.domain, p.extra
        FROM prompts p LEFT JOIN d USING (prompt_id) LEFT JOIN r USING (prompt_id)
        WHERE (d.band IN ({', '.join('?' * len(bands))}) {rewritten})
          AND NOT EXISTS (SELECT 1 FROM duplicates x WHERE x.prompt_id = p.prompt_id)
          AND NOT EXISTS (SELECT 1 FROM contamination c WHERE c.prompt_id = p.prompt_id)
          AND NOT EXISTS (SELECT 1 FROM traces t WHERE t.prompt_id = p.prompt_id AND t.teacher = ?)
        ORDER BY p.ingested_at, p.prompt_id {limited}
        """,
        [*bands, teacher],
    ).to_pylist()
