"""Flows layer: the `difficulty` Prefect flow, a thin wrapper around tasks.difficulty.

Opens the warehouse, scores prompts with the configured engine (the bundled local server by
default), records the run and publishes a band table and pass-rate histogram as artifacts.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from schemas.difficulty import DifficultySettings
from tasks.difficulty.stage import DifficultyReport, run_difficulty
from flows.stage_run import run_stage


@task(name="score-difficulty", cache_policy=NO_CACHE)
def score_task(lake, settings: DifficultySettings, run_id: str, cache_path) -> DifficultyReport:
    report = run_difficulty(lake, settings, run_id, cache_path)
    get_run_logger().info("difficulty: %s", report.as_dict())
    return report


def histogram_rows(correct_histogram: dict, scored: int, n: int) -> list[dict]:
    total = max(scored, 1)
    return [{"correct": f"{k}/{n}", "prompts": correct_histogram.get(str(k), 0),
             "share": round(correct_histogram.get(str(k), 0) / total, 3)} for k in range(n + 1)]


@flow(name="difficulty")
def difficulty_flow(
    settings: Annotated[DifficultySettings, Field(description="Engine, samples per prompt, band thresholds.")] = DifficultySettings(),
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
) -> dict:
    _, result = run_stage("difficulty", settings, home, lambda lake, run_id, cache: score_task(lake, settings, run_id, cache))
    histogram = histogram_rows(result["correct_histogram"], result["scored"], settings.n)
    create_table_artifact(table=histogram, key="difficulty-pass-rates", description=f"Pass-rate histogram, run {result['run_id']}")
    bands = [{"band": b, "prompts": c} for b, c in sorted(result["bands"].items())]
    create_table_artifact(table=bands or [{"band": "-", "prompts": 0}], key="difficulty-bands", description=f"Bands, run {result['run_id']}")
    return {**result, "histogram": histogram, "bands_rows": bands}
