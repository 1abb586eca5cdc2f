"""Tasks layer: the one stage contract, its registry, and the recorded run of a stage.

Every stage module (`tasks/<stage>/stage.py`) declares `READS` (tables whose rows it needs),
`WRITES` (tables it fills) and `run(ctx, settings) -> Report`, where every report has
`funnel()` and `as_dict()`. `STAGES` lists them in pipeline order; `run_recorded` runs one
under the home's run lock and writes its `runs` row. Front ends (the CLI, Prefect flows) add
only what they show around it. No Prefect here: flows hand in a gate, shards and a flow-run id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from schemas.errors import UserError
from schemas.llm import EngineSettings
from tasks.progress import Progress, progress
from tasks.runs import Funnel, new_run_id, now, record_run
from warehouse.home import Home
from warehouse.lake import Lake
from warehouse.runlock import hold_home

if TYPE_CHECKING:
    from schemas.config import PipelineConfig
    from tasks.llm.base import Engine
    from tasks.llm.gates import EndpointGate
    from tasks.shards import ShardMapper


class Report(Protocol):
    """What every stage returns: its funnel and its counters (recorded in `runs.stats`)."""

    def funnel(self) -> Funnel: ...

    def as_dict(self) -> dict: ...


@dataclass
class StageContext:
    """Everything a stage gets besides its settings."""

    lake: Lake
    run_id: str
    cache_path: Path
    shards: ShardMapper | None = None  # None: the stage's own worker processes
    gate: EndpointGate | None = None  # limits shared across processes (Prefect), else per process
    progress: Progress = field(default_factory=progress)
    engine_factory: Callable[[EngineSettings], Engine] | None = None  # tests inject fakes here
    flow_run_id: str | None = None  # the Prefect flow run, when there is one (goes into manifests)
    # API keys the flows layer read from Prefect Secret blocks, by block name (api_key_secret);
    # handed to engines only, never recorded or printed.
    api_keys: dict[str, str] = field(default_factory=dict, repr=False)

    def make_engine(self, settings: EngineSettings) -> Engine:
        if self.engine_factory is not None:
            return self.engine_factory(settings)
        from tasks.llm.client import make_engine

        key = self.api_keys.get(settings.api_key_secret) if settings.api_key_secret else None
        return make_engine(settings, gate=self.gate, api_key=key)


@dataclass(frozen=True)
class StageSpec:
    """A registry entry: the stage's name, its module, and how a pipeline config feeds it."""

    name: str
    module_name: str
    settings_of: Callable[[PipelineConfig], BaseModel]
    skip_reason: Callable[[BaseModel], str | None] = lambda _settings: None

    @property
    def module(self) -> ModuleType:  # imported on use: ad-hoc commands load one stage only
        return import_module(self.module_name)

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(self.module.READS)

    @property
    def writes(self) -> tuple[str, ...]:
        return tuple(self.module.WRITES)


def _ingest_job(config: PipelineConfig) -> BaseModel:
    from schemas.config import IngestJob

    return IngestJob(sources=config.sources, settings=config.ingest)


def _traces_settings(config: PipelineConfig) -> BaseModel:
    """Traces select by the bands of the pipeline's own base model."""
    if config.traces.base_model:
        return config.traces
    return config.traces.model_copy(update={"base_model": config.difficulty.base.model})


def _publish_job(config: PipelineConfig) -> BaseModel:
    from schemas.publish import PublishJob

    return PublishJob(name=config.name, **config.publish.model_dump())


STAGES: tuple[StageSpec, ...] = (
    StageSpec("ingest", "tasks.ingest.stage", _ingest_job),
    StageSpec("dedup", "tasks.dedup.stage", lambda c: c.dedup),
    StageSpec("decontaminate", "tasks.decontam.stage", lambda c: c.decontaminate,
              lambda s: None if s.benchmarks else "no benchmarks configured"),
    # Rewrite before difficulty: accepted rewrites are prompts of their own, scored in the same pass.
    StageSpec("rewrite", "tasks.rewrite.stage", lambda c: c.rewrite),
    StageSpec("difficulty", "tasks.difficulty.stage", lambda c: c.difficulty),
    StageSpec("traces", "tasks.traces.stage", _traces_settings),
    StageSpec("recheck", "tasks.decontam.published", lambda c: c.decontaminate,
              lambda s: None if s.benchmarks else "no benchmarks configured"),
    StageSpec("publish", "tasks.publish.stage", _publish_job),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def stage(name: str) -> StageSpec:
    for spec in STAGES:
        if spec.name == name:
            return spec
    raise UserError(f"unknown stage {name!r}: choose from {', '.join(STAGE_NAMES)}")


def choose(names: Sequence[str] | None) -> list[str]:
    """The named stages in pipeline order (all when none are named)."""
    if not names:
        return list(STAGE_NAMES)
    unknown = [n for n in names if n not in STAGE_NAMES]
    if unknown:
        raise UserError(f"unknown stage(s) {', '.join(unknown)}: choose from {', '.join(STAGE_NAMES)}")
    return [n for n in STAGE_NAMES if n in names]


def check_inputs(lake: Lake, names: Sequence[str]) -> None:
    """Before any work: every table a chosen stage reads is written by an earlier chosen stage
    or already holds rows, so `--stages difficulty` on a fresh home fails at once, in one line."""
    written: set[str] = set()
    for name in names:
        spec = stage(name)
        for table in spec.reads:
            if table not in written and lake.count(table) == 0:
                writers = [s.name for s in STAGES if table in s.writes]
                raise UserError(f"stage {name} reads `{table}`, which is empty and no earlier stage of this run "
                                f"writes it: run {' or '.join(writers)} first (or add it to --stages)")
        written.update(spec.writes)


@dataclass
class Outcome:
    """A finished stage run: its report and the result dict front ends print."""

    report: Any
    result: dict


def summarize(spec: StageSpec, report: Report) -> dict:
    """The stage's own view of its report for front ends (`summarize` in its module), else as_dict."""
    view = getattr(spec.module, "summarize", None)
    return view(report) if view else report.as_dict()


def run_params(spec: StageSpec, settings: BaseModel, report: Report) -> dict:
    params = getattr(spec.module, "params", None)
    return params(settings, report) if params else settings.model_dump(mode="json")


def run_recorded(
    name: str,
    settings: BaseModel,
    home: str | None,
    *,
    shards: ShardMapper | None = None,
    gate: EndpointGate | None = None,
    flow_run_id: str | None = None,
    call: Callable[[Callable[..., Report], StageContext, BaseModel], Report] | None = None,
    engine_factory: Callable[[EngineSettings], Engine] | None = None,
    api_keys: dict[str, str] | None = None,
) -> Outcome:
    """Run one stage under the home's run lock and record it in `runs` (settings, counters,
    funnel, snapshot). `call` lets a flow run the stage's `run` as a Prefect task."""
    spec = stage(name)
    run = spec.module.run
    run_id = new_run_id(name)
    started = now()
    resolved = Home.resolve(home)
    with hold_home(resolved, f"teachable {name}"), Lake(resolved) as lake:
        lake.label(f"{name} run {run_id}", stage=name, run_id=run_id, flow_run_id=flow_run_id)
        ctx = StageContext(lake, run_id, resolved.cache / "llm.sqlite", shards=shards, gate=gate,
                           engine_factory=engine_factory, flow_run_id=flow_run_id, api_keys=api_keys or {})
        report = call(run, ctx, settings) if call else run(ctx, settings)
        funnel = report.funnel().as_dict()
        snapshot = record_run(lake, run_id=run_id, stage=name, started_at=started,
                              params=run_params(spec, settings, report),
                              stats={**report.as_dict(), "funnel": funnel}, flow_run_id=flow_run_id)
    result = {"run_id": run_id, "snapshot_id": snapshot, "run_snapshot_id": snapshot,
              **summarize(spec, report), "funnel": funnel}
    return Outcome(report, result)
