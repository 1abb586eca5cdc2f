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


def kept_traces(lake: Lake, difficulty_model: str | None) -> pa.Table:
    """Kept traces joined with their prompt, accepted rewrite and difficulty (one model)."""
    return lake.query(
        """
        SELECT t.prompt_id, t.teacher, t.sample_index, t.reasoning, t.solution, t.tokens,
               p.source, p.source_file, p.domain, p.problem, r.rewritten_problem,
               d.pass_rate, d.band,
               p.prompt_id IS NULL AS missing_prompt,
               EXISTS (SELECT 1 FROM duplicates x WHERE x.prompt_id = t.prompt_id) AS duplicate,
               EXISTS (SELECT 1 FROM contamination c WHERE c.prompt_id = t.prompt_id) AS contaminated
        FROM traces t
        LEFT JOIN prompts p ON p.prompt_id = t.prompt_id
        LEFT JOIN rewrites r ON r.prompt_id = t.prompt_id AND r.status = 'accepted'
        LEFT JOIN difficulty d ON d.prompt_id = t.prompt_id AND d.model = ?
        WHERE t.status = 'kept'
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
    lake.con.register("_teachable_wanted", wanted)
    try:
        return lake.query(
            """
            SELECT DISTINCT w.source, w.source_file, i.format, i.content_sha256
            FROM _teachable_wanted w
            LEFT JOIN ingest_files i ON i.source = w.source AND i.source_file = w.source_file
            ORDER BY 1, 2, 4 NULLS FIRST
            """
        ).to_pylist()
    finally:
        lake.con.unregister("_teachable_wanted")
