"""Flows layer: `curate`, the parent flow that runs the pipeline's stages from one config.

Validates the config and the stage list before any work, holds the home's run lock for the
whole DAG, checks that every table a chosen stage reads is written by an earlier one or
already holds rows, starts one local model server for every `kind: local` engine found in the
chosen stages' settings, runs each stage of the registry (tasks.stage.STAGES) as its own
subflow, and ends with the run's funnel and LLM-usage artifacts. The `curate-nightly`
deployment of prefect.yaml runs it on a schedule.
"""

from __future__ import annotations

from importlib import import_module
from typing import Annotated

from prefect import flow
from pydantic import BaseModel, Field

from flows.runtime.alerts import ALERT_HOOKS
from flows.runtime.monitoring import publish_curate_artifacts
from flows.runtime.task_runners import parse
from schemas.config import PipelineConfig, load_config
from tasks.llm.budget import within_run
from tasks.llm.local_engine import engines_in, pointed_at, shared_local_server, with_engines
from tasks.stage import check_inputs, choose, stage
from warehouse.home import Home
from warehouse.lake import Lake, bind_catalog
from warehouse.runlock import hold_home

check_stages = choose


@flow(name="curate", **ALERT_HOOKS)
def curate_flow(
    config_path: Annotated[str, Field(description="Pipeline config YAML.")],
    stages: Annotated[list[str] | None, Field(description="Subset of stages; default all.")] = None,
    home: Annotated[str | None, Field(description="Warehouse home.")] = None,
    lock_wait: Annotated[float | None, Field(description="Seconds to wait if another run holds the home; default $TEACHABLE_LOCK_WAIT or 0.")] = None,
    task_runner: Annotated[str | None, Field(description="Where CPU stages' shards run: local (default), threads[:N] or dask://HOST:PORT.")] = None,
) -> dict:
    config: PipelineConfig = load_config(config_path)
    chosen = choose(stages)
    parse(task_runner)  # a bad value or an unreachable scheduler fails before any stage runs
    resolved = Home.resolve(home)
    # One run per home for the whole DAG: a second run must not slip in between two stages.
    with hold_home(resolved, f"teachable run {config_path}", lock_wait):
        bind_catalog(resolved, config.warehouse)  # a deployment's run binds its home like `teachable run`
        with Lake(resolved) as lake:
            check_inputs(lake, chosen)
        settings = {name: stage(name).settings_of(config) for name in chosen}
        local = [e for s in settings.values() for e in engines_in(s)]
        with shared_local_server(local) as base_url:
            results = run_stages(settings, home, task_runner, base_url, config.budget_usd)
        with Lake(resolved, read_only=True) as lake:
            monitoring = publish_curate_artifacts(results, lake)
    return {"stages": results, **monitoring}


def run_stages(settings: dict[str, BaseModel], home: str | None, task_runner: str | None,
               base_url: str | None, budget_usd: float | None = None) -> dict[str, dict]:
    """Each stage's subflow (flows/<stage>.py `subflow`) in registry order, `local` engines
    pointed at the run's one bundled server; a stage with nothing to do says why."""
    results: dict[str, dict] = {}
    spent = 0.0  # the run's budget: each LLM stage gets what the stages before it left
    for name, stage_settings in settings.items():
        if reason := stage(name).skip_reason(stage_settings):
            results[name] = {"skipped": reason}
            continue
        stage_settings = with_engines(stage_settings, lambda engine: within_run(pointed_at(engine, base_url),
                                                                                budget_usd, spent))
        results[name] = import_module(f"flows.{name}").subflow(stage_settings, home, task_runner)
        spent += float((results[name].get("llm") or {}).get("cost_usd") or 0.0)
    return results
