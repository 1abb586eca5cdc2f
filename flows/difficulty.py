"""Flows layer: the `difficulty` Prefect flow, a thin wrapper around tasks.difficulty.

Opens the warehouse, scores prompts with the configured engine (the bundled local server by
default), records the run and publishes a band table and pass-rate histogram as artifacts.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic import Field

from schemas.difficulty import DifficultySettings
from tasks.difficulty.stage import DifficultyReport, run_difficulty
from tasks.runs import new_run_id, now, record_run
from warehouse.home import Home
from warehouse.lake import Lake


@task(name="score-difficulty", cache_policy=NO_CACHE)
def score_task(lake: Lake, settings: DifficultySettings, run_id: str, cache_path: str) -> DifficultyReport:
    from pathlib import Path

    report = run_difficulty(lake, settings, run_id, Path(cache_path))
    get_run_logger().info("difficulty: %s", report.as_dict())
    return report


def histogram_rows(report: DifficultyReport, n: int) -> list[dict]:
    total = max(report.scored, 1)
    return [{"correct": f"{k}/{n}", "prompts": report.correct_histogram.get(k, 0),
             "share": round(report.correct_histogram.get(k, 0) / total, 3)} for k in range(n + 1)]


@flow(name="difficulty")
def difficulty_flow(
    settings: Annotated[DifficultySettings, Field(description="Engine, samples per prompt, band thresholds.")] = DifficultySettings(),
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
) -> dict:
    run_id = new_run_id("difficulty")
    started = now()
    resolved = Home.resolve(home)
    with Lake(resolved) as lake:
        report = score_task(lake, settings, run_id, str(resolved.cache / "llm.sqlite"))
        snapshot = record_run(lake, run_id=run_id, stage="difficulty", started_at=started,
                              params=settings.model_dump(mode="json"), stats=report.as_dict(), flow_run_id=flow_run.id)
    histogram = histogram_rows(report, settings.n)
    create_table_artifact(table=histogram, key="difficulty-pass-rates", description=f"Pass-rate histogram, run {run_id}")
    bands = [{"band": b, "prompts": c} for b, c in sorted(report.bands.items())]
    create_table_artifact(table=bands or [{"band": "-", "prompts": 0}], key="difficulty-bands", description=f"Bands, run {run_id}")
    return {"run_id": run_id, "snapshot_id": snapshot, **report.as_dict(), "histogram": histogram, "bands_rows": bands}
