"""Flows layer: `curate`, the parent flow that runs the pipeline's stages from one config.

Validates the config and the stage list before any work, holds the home's run lock for the
whole DAG, starts one local model server for every `kind: local` engine, calls each stage's
flow in order (each stage does only what is new), and ends with the run's funnel and LLM-usage
artifacts. The `curate-nightly` deployment of prefect.yaml runs it on a schedule.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from flows.decontaminate import decontaminate_flow
from flows.dedup import dedup_flow
from flows.difficulty import difficulty_flow
from flows.ingest import ingest_flow
from flows.monitoring import publish_curate_artifacts
from flows.publish import publish_flow
from flows.rewrite import rewrite_flow
from flows.task_runners import on_task_runner, parse
from flows.traces import traces_flow
from schemas.config import PipelineConfig, load_config
from schemas.errors import UserError
from tasks.llm.local_engine import pointed_at, shared_local_server
from warehouse.home import Home
from warehouse.lake import Lake, bind_catalog
from warehouse.runlock import hold_home

STAGES = ("ingest", "dedup", "decontaminate", "difficulty", "rewrite", "traces", "publish")


def check_stages(stages: list[str] | None) -> list[str]:
    if not stages:
        return list(STAGES)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise UserError(f"unknown stage(s) {', '.join(unknown)}: choose from {', '.join(STAGES)}")
    return [s for s in STAGES if s in stages]


@flow(name="curate")
def curate_flow(
    config_path: Annotated[str, Field(description="Pipeline config YAML.")],
    stages: Annotated[list[str] | None, Field(description="Subset of stages; default all.")] = None,
    home: Annotated[str | None, Field(description="Warehouse home.")] = None,
    lock_wait: Annotated[float | None, Field(description="Seconds to wait if another run holds the home; default $TEACHABLE_LOCK_WAIT or 0.")] = None,
    task_runner: Annotated[str | None, Field(description="Where CPU stages' shards run: local (default), threads[:N] or dask://HOST:PORT.")] = None,
) -> dict:
    config: PipelineConfig = load_config(config_path)
    chosen = check_stages(stages)
    parse(task_runner)  # a bad value or an unreachable scheduler fails before any stage runs
    resolved = Home.resolve(home)
    # One run per home for the whole DAG: a second run must not slip in between two stages.
    with hold_home(resolved, f"teachable run {config_path}", lock_wait):
        bind_catalog(resolved, config.warehouse)  # a deployment's run binds its home like `teachable run`
        with shared_local_server(llm_engines(config, chosen)) as base_url:
            results = run_stages(with_local_server(config, base_url), chosen, home, task_runner)
        with Lake(resolved, read_only=True) as lake:
            monitoring = publish_curate_artifacts(results, lake)
    return {"stages": results, **monitoring}


def llm_engines(config: PipelineConfig, stages: list[str]) -> list:
    engines = {"difficulty": [config.difficulty.base, config.difficulty.reference],
               "rewrite": [config.rewrite.rewriter, config.rewrite.solver], "traces": [config.traces.teacher]}
    return [e for stage in stages for e in engines.get(stage, []) if e is not None]


def with_local_server(config: PipelineConfig, base_url: str | None) -> PipelineConfig:
    """Point every `local` engine of the config at the run's one bundled server."""
    if base_url is None:
        return config
    d, r, t = config.difficulty, config.rewrite, config.traces
    return config.model_copy(update={
        "difficulty": d.model_copy(update={"base": pointed_at(d.base, base_url),
                                           "reference": d.reference and pointed_at(d.reference, base_url)}),
        "rewrite": r.model_copy(update={"rewriter": pointed_at(r.rewriter, base_url),
                                        "solver": r.solver and pointed_at(r.solver, base_url)}),
        "traces": t.model_copy(update={"teacher": pointed_at(t.teacher, base_url)}),
    })


def run_stages(config: PipelineConfig, stages: list[str], home: str | None, task_runner: str | None = None) -> dict:
    results: dict[str, dict] = {}
    for stage in stages:
        if stage == "ingest":
            results["ingest"] = ingest_flow(sources=config.sources, settings=config.ingest, home=home)
        elif stage == "dedup":
            results["dedup"] = on_task_runner(dedup_flow, task_runner)(settings=config.dedup, home=home)
        elif stage == "decontaminate":
            if config.decontaminate.benchmarks:  # nothing to check against: skipped, said in the result
                results["decontaminate"] = decontaminate_flow(settings=config.decontaminate, home=home)
            else:
                results["decontaminate"] = {"skipped": "no benchmarks configured"}
        elif stage == "difficulty":
            results["difficulty"] = difficulty_flow(settings=config.difficulty, home=home)
        elif stage == "rewrite":
            results["rewrite"] = rewrite_flow(settings=config.rewrite, home=home)
        elif stage == "traces":
            results["traces"] = traces_flow(settings=config.traces, home=home)
        elif stage == "publish":
            results["publish"] = publish_flow(name=config.name, settings=config.publish, home=home)
    return results
