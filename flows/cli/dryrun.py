"""Flows layer (cli): `--dry-run` of LLM stages and of `run`: what would be sent and cost.

Each stage module that calls a model has `estimate(ctx, settings)`; this opens the warehouse
read-only and asks each of them, against the home as it is now (a stage fed by an earlier stage
of the same run sees only what is already there). Nothing is sent, nothing is written.
"""

from __future__ import annotations

from pydantic import BaseModel

COLUMNS = ("stage", "models", "prompts", "requests", "samples_cached", "samples_to_send", "prompt_tokens",
           "completion_tokens", "cost", "estimated_from")


def estimate_stages(home: str | None, items: list[tuple[str, BaseModel]]) -> list[dict]:
    from tasks.stage import StageContext, stage
    from warehouse.home import Home
    from warehouse.lake import Lake

    resolved = Home.resolve(home)
    rows = []
    with Lake(resolved, read_only=True) as lake:
        ctx = StageContext(lake, "dry-run", resolved.cache / "llm.sqlite")
        for name, settings in items:
            estimate = getattr(stage(name).module, "estimate", None)
            if estimate is not None:
                rows.append(estimate(ctx, settings))
    return rows


def print_estimates(rows: list[dict]) -> None:
    from flows.cli.console import out, print_rows

    print_rows([{c: row.get(c, row.get("stage")) if c == "stage" else row.get(c) for c in COLUMNS} for row in rows],
               title="dry run: nothing sent, nothing written")
    costs = [row["cost_usd"] for row in rows if row.get("requests")]
    total = "unknown (a model has no price)" if any(c is None for c in costs) else f"${sum(costs):.4f}"
    out.print(f"requests {sum(r.get('requests', 0) for r in rows)}, estimated cost {total}", highlight=False)
