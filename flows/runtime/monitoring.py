"""Flows layer (runtime): what a run shows in the Prefect UI besides its logs.

- progress artifacts, updated while a long stage works (the stages report through
  `tasks.progress`; here that is forwarded to Prefect, throttled);
- the curate run's stage funnel (in, kept, dropped by reason) and its LLM usage and cost.
Stage flows add their own tables (contamination hits, pass-rate histogram, ...).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.runtime import flow_run

from tasks.progress import Progress, progress, use_progress
from tasks.runs import funnel_rows
from warehouse.lake import Lake
from warehouse.run_queries import llm_usage

UPDATE_EVERY_S = 2.0


class PrefectProgress(Progress):
    """One progress artifact per `start`; updates at most every UPDATE_EVERY_S seconds."""

    def __init__(self, key: str):
        self.key, self.artifact, self.total, self.last = key, None, None, 0.0

    def start(self, label: str, total: int | None) -> None:
        self.total, self.label = total, label
        # `_sync`: stages report from inside their asyncio loops, where Prefect would hand
        # back an un-awaited coroutine instead of creating the artifact.
        self.artifact = create_progress_artifact(progress=0.0, key=self.key, description=label, _sync=True)
        self.last = time.monotonic()

    def update(self, done: int, **counters: int) -> None:
        if self.artifact is None or not self.total or time.monotonic() - self.last < UPDATE_EVERY_S:
            return
        self.last = time.monotonic()
        self._set(done)

    def finish(self) -> None:
        if self.artifact is not None and self.total:
            self._set(self.total)
        self.artifact = None

    def _set(self, done: int) -> None:
        share = min(100.0, 100.0 * done / self.total)
        detail = f"{self.label}: {done}/{self.total}"
        update_progress_artifact(artifact_id=self.artifact, progress=share, description=detail, _sync=True)


class TeeProgress(Progress):
    """Sends every event to several sinks (the terminal bar and Prefect)."""

    def __init__(self, *sinks: Progress):
        self.sinks = sinks

    def start(self, label: str, total: int | None) -> None:
        for sink in self.sinks:
            sink.start(label, total)

    def update(self, done: int, **counters: int) -> None:
        for sink in self.sinks:
            sink.update(done, **counters)

    def finish(self) -> None:
        for sink in self.sinks:
            sink.finish()


@contextmanager
def stage_progress(stage: str) -> Iterator[None]:
    """Inside a flow run, mirror the stage's progress into a Prefect progress artifact."""
    if flow_run.id is None:
        yield
        return
    with use_progress(TeeProgress(progress(), PrefectProgress(f"{stage}-progress"))):
        yield


# --- the curate run's summary ---------------------------------------------------------------

def publish_curate_artifacts(results: dict[str, dict], lake: Lake) -> dict:
    """The funnel and the LLM usage tables of one curate run, as artifacts and as data."""
    funnel = funnel_rows(results)
    run_ids = [r["run_id"] for r in results.values() if isinstance(r, dict) and r.get("run_id")]
    usage = llm_usage(lake, run_ids)
    create_table_artifact(table=funnel or [{"stage": "-"}], key="curate-funnel",
                          description="Stage funnel of this curate run: in = kept + dropped")
    create_table_artifact(table=usage or [{"stage": "-", "calls": 0}], key="curate-llm-usage",
                          description="LLM calls, tokens and cost of this curate run")
    get_run_logger().info("funnel: %s", "; ".join(f"{r['stage']} {r['in']}→{r['kept']}" for r in funnel))
    return {"funnel": funnel, "llm_usage": usage}
