"""Flows layer: the `difficulty` Prefect flow around the difficulty stage (tasks.difficulty).

Runs the stage through the stage runner and publishes the pass-rate histogram and the bands
as table artifacts.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import Field

from flows.runtime.alerts import ALERT_HOOKS
from flows.runtime.stage_runner import run_stage
from schemas.difficulty import DifficultySettings


@flow(name="difficulty", **ALERT_HOOKS)
def difficulty_flow(
    settings: Annotated[DifficultySettings, Field(description="Engine, samples per prompt, band thresholds.")] = DifficultySettings(),
    home: Annotated[str | None, Field(description="Warehouse home; default $TEACHABLE_HOME or ./.teachable.")] = None,
) -> dict:
    result = run_stage("difficulty", settings, home).result
    create_table_artifact(table=result["histogram"], key="difficulty-pass-rates",
                          description=f"Pass-rate histogram, run {result['run_id']}")
    create_table_artifact(table=result["bands_rows"] or [{"band": "-", "prompts": 0}], key="difficulty-bands",
                          description=f"Bands, run {result['run_id']}")
    return result


def subflow(settings: DifficultySettings, home: str | None, _task_runner: str | None = None) -> dict:
    return difficulty_flow(settings=settings, home=home)
