"""Warehouse layer: the read-only SQL the publish stage needs (candidates, lineage, counts).

`kept_traces` returns every kept trace with what a release record is made of and the flags
that may exclude it; it decides nothing. `stage_counts`, `source_lineage` and
`contaminated_prompts_by_benchmark` feed the manifest.
"""

from __future__ import annotations

import pyarrow as pa

from warehouse.lake import Lake


def difficulty_models(lake: Lake) -> list[str]:
    return [r["model"] for r in lake.query("SELECT DISTINCT model FROM difficulty ORDER BY 1").to_pylist()]


# Contamination rows by what they checked: `target` (problem | rewrite | answer) arrived with
# the recheck stage; a warehouse without the column holds problem checks only.
_NOT_SIBLING = "c.method <> 'sibling'"


def _contamination_flags(lake: Lake) -> str:
    """SELECT expressions flagging a trace by the contamination rows that concern it."""
    columns = set(lake.columns("contamination"))
    base = "EXISTS (SELECT 1 FROM contamination c WHERE c.prompt_id = t.prompt_id AND {}) AS {}"
    if "target" not in columns:
        return ",\n".join([base.format(_NOT_SIBLING, "contaminated"),
                            "FALSE AS contaminated_rewrite", "FALSE AS contaminated_answer",
                            base.format("c.method = 'sibling'", "sibling")])
    answer = "c.target = 'answer' AND " + _NOT_SIBLING
    if {"teacher", "sample_index"} <= columns:  # an answer row names the one trace it checked
        answer += " AND c.teacher = t.teacher AND c.sample_index = t.sample_index"
    return ",\n".join([
        base.format("coalesce(c.target, 'problem') = 'problem' AND " + _NOT_SIBLING, "contaminated"),
        # A rewrite's rows matter only while that rewrite is the published user turn.
        base.format("c.target = 'rewrite' AND r.prompt_id IS NOT NULL AND " + _NOT_SIBLING, "contaminated_rewrite"),
        base.format(answer, "contaminated_answer"),
        base.format("c.method = 'sibling' AND (coalesce(c.target, 'problem') = 'problem' "
                    "OR (c.target = 'rewrite' AND r.prompt_id IS NOT NULL))", "sibling"),
    ])


def kept_traces(lake: Lake, difficulty_model: str | None) -> pa.Table:
    """Kept traces joined with their prompt, accepted rewrite and difficulty (one model), plus
    the prompt's verified spare traces (`spare`: correct but not kept, e.g. `not_best`), which
    only a mixture weight above 1 draws on."""
    return lake.query(
        f"""
        SELECT t.prompt_id, t.teacher, t.sample_index, t.reasoning, t.solution, t.tokens,
               t.status <> 'kept' AS spare,
               p.source, p.source_file, p.domain, p.problem, r.rewritten_problem,
               d.pass_rate, d.band,
               p.prompt_id IS NULL AS missing_prompt,
               EXISTS (SELECT 1 FROM duplicates x WHERE x.prompt_id = t.prompt_id) AS duplicate,
               {_contamination_flags(lake)}
        FROM traces t
        LEFT JOIN prompts p ON p.prompt_id = t.prompt_id
        LEFT JOIN rewrites r ON r.prompt_id = t.prompt_id AND r.status = 'accepted'
        LEFT JOIN difficulty d ON d.prompt_id = t.prompt_id AND d.model = ?
        WHERE t.status = 'kept' OR (t.reason = 'not_best' AND t.prompt_id IN
              (SELECT prompt_id FROM traces WHERE status = 'kept'))
        ORDER BY t.prompt_id, t.teacher, t.sample_index
        """,
        [difficulty_model],
    )


def _grouped(lake: Lake, table: str, columns: tuple[str, ...], where: str = "") -> dict[str, int]:
    """{'a/b': count} grouped by the columns; NULL shows as 'none' so no row goes uncounted."""
    keys = " || '/' || ".join(f"coalesce(CAST({c} AS VARCHAR), 'none')" for c in columns)
    rows = lake.query(
        f"SELECT {keys} AS k, count(*) AS n FROM {table} {where} GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    return {r["k"]: int(r["n"]) for r in rows}


def stage_counts(lake: Lake) -> dict:
    """Per-stage counts and drop reasons of the whole warehouse, as the release saw it."""
    return {
        "prompts": {"total": lake.count("prompts"), "by_source": _grouped(lake, "prompts", ("source",))},
        "quarantine": {"total": lake.count("quarantine"), "by_reason": _grouped(lake, "quarantine", ("reason",))},
        "duplicates": {"total": lake.count("duplicates"), "by_method": _grouped(lake, "duplicates", ("method",))},
        "contamination": {
            "prompts": lake.query("SELECT count(DISTINCT prompt_id) AS n FROM contamination").to_pylist()[0]["n"],
            "by_benchmark_method": _grouped(lake, "contamination", ("benchmark", "method")),
        },
        "difficulty": {
            "total": lake.count("difficulty"),
            "by_model_band": _grouped(lake, "difficulty", ("model", "band")),
        },
        "rewrites": {
            "by_status": _grouped(lake, "rewrites", ("status",)),
            "by_reason": _grouped(lake, "rewrites", ("reason",), "WHERE status <> 'accepted'"),
        },
        "traces": {
            "by_status": _grouped(lake, "traces", ("status",)),
            "by_reason": _grouped(lake, "traces", ("reason",), "WHERE status <> 'kept'"),
            "by_teacher": _grouped(lake, "traces", ("teacher", "status")),
        },
    }


def contaminated_prompts_by_benchmark(lake: Lake) -> dict[str, int]:
    """Distinct prompts flagged per benchmark (a prompt may count for several benchmarks)."""
    rows = lake.query(
        "SELECT benchmark, count(DISTINCT prompt_id) AS n FROM contamination GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    return {r["benchmark"]: int(r["n"]) for r in rows}


def source_lineage(lake: Lake, files: list[tuple[str, str]]) -> list[dict]:
    """Format and content hash (from ingest_files) of each (source, source_file) pair given;
    a pair no ingest run recorded (rows written directly) comes back with NULLs."""
    if not files:
        return []
    wanted = pa.table({"source": [s for s, _ in files], "source_file": [f for _, f in files]})
    with lake.registered("_teachable_wanted", wanted):
        return lake.query(
            """
            SELECT DISTINCT w.source, w.source_file, i.format, i.content_sha256
            FROM _teachable_wanted w
            LEFT JOIN ingest_files i ON i.source = w.source AND i.source_file = w.source_file
            ORDER BY 1, 2, 4 NULLS FIRST
            """
        ).to_pylist()


def siblings_by_benchmark(lake: Lake) -> dict[str, int]:
    """Distinct prompts recorded as a benchmark sibling (same item, other numbers), per benchmark."""
    rows = lake.query(
        "SELECT benchmark, count(DISTINCT prompt_id) AS n FROM contamination WHERE method = 'sibling' "
        "GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    return {r["benchmark"]: int(r["n"]) for r in rows}


def decontamination_runs(lake: Lake) -> list[dict]:
    """Completed decontaminate and recheck runs, newest first, with their params and stats JSON."""
    return lake.query(
        "SELECT run_id, stage, finished_at, params, stats FROM runs "
        "WHERE stage IN ('decontaminate', 'recheck') AND status = 'completed' ORDER BY finished_at DESC"
    ).to_pylist()


def benchmark_inventory(lake: Lake) -> list[dict]:
    """Per benchmark as stored in `benchmark_items`: item count and a sha256 over its items
    (ids, problems and answers in id order), so a release pins exactly what was checked."""
    return lake.query(
        """
        SELECT benchmark, count(*) AS items,
               sha256(string_agg(benchmark_item || chr(31) || problem || chr(31) || coalesce(answer, ''),
                                 chr(30) ORDER BY benchmark_item)) AS items_sha256
        FROM benchmark_items GROUP BY 1 ORDER BY 1
        """
    ).to_pylist()


def unchecked_prompts(lake: Lake, prompt_ids: list[str]) -> int:
    """How many of the given prompts no decontaminate run checked (no `decontam_checked` row)."""
    if not prompt_ids:
        return 0
    with lake.registered("_teachable_released", pa.table({"prompt_id": prompt_ids})):
        return int(lake.query(
            "SELECT count(DISTINCT w.prompt_id) AS n FROM _teachable_released w "
            "WHERE NOT EXISTS (SELECT 1 FROM decontam_checked k WHERE k.prompt_id = w.prompt_id)"
        ).to_pylist()[0]["n"])
