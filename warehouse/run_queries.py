"""Warehouse layer: the queries front ends make about runs (`runs`, `llm_calls`).

Read-only; the CLI's `status` and the curate flow's usage artifact call these instead of
writing SQL of their own.
"""

from __future__ import annotations

from warehouse.lake import Lake


def last_runs(lake: Lake, limit: int = 5) -> list[dict]:
    return lake.query(
        "SELECT run_id, stage, status, finished_at, snapshot_id FROM runs ORDER BY finished_at DESC LIMIT ?", [limit]
    ).to_pylist()


def llm_usage(lake: Lake, run_ids: list[str]) -> list[dict]:
    """Calls, tokens, latency and cost per stage and model for the given runs (from llm_calls)."""
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    return lake.query(
        f"""
        SELECT stage, model, count(*) AS calls, count(*) FILTER (WHERE status = 'ok') AS ok,
               count(*) FILTER (WHERE status = 'retry') AS retried, count(*) FILTER (WHERE status = 'error') AS failed,
               CAST(coalesce(sum(prompt_tokens), 0) AS BIGINT) AS prompt_tokens,
               CAST(coalesce(sum(completion_tokens), 0) AS BIGINT) AS completion_tokens,
               CAST(round(coalesce(sum(cost_usd), 0), 6) AS DOUBLE) AS cost_usd,
               CAST(round(avg(latency_s), 3) AS DOUBLE) AS mean_latency_s
        FROM llm_calls WHERE run_id IN ({marks}) GROUP BY ALL ORDER BY stage, model
        """,
        run_ids,
    ).to_pylist()
