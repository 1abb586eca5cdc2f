"""Tasks layer (traces): K teacher responses per teachable (or rewritten) prompt, filtered.

Reads prompts whose difficulty band is wanted (or that have an accepted rewrite), kept and
uncontaminated, without traces from this teacher yet; writes one `traces` row per response
(kept, or dropped with its reason), a chunk of prompts per transaction. A teacher that never
returns reasoning stops the stage with one line unless answer-only traces are allowed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from schemas.errors import UserError
from schemas.llm import LLMRequest, Message
from schemas.records import Trace
from schemas.traces import TracesSettings
from tasks.llm.base import Engine
from tasks.llm.client import EngineFactory, LLMClient
from tasks.llm.dialects import reasoning_channel
from tasks.llm.preflight import teacher_preflight
from tasks.runs import Funnel
from tasks.stage import StageContext
from tasks.traces import store
from tasks.traces.filters import Checked, check_response, has_reasoning
from tasks.verify import spec_of
from warehouse.lake import Lake

TEMPLATE = "traces-1"
CHUNK = 32


@dataclass
class TracesReport:
    run_id: str
    teacher: str
    prompts: int = 0
    responses: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    incomplete: int = 0
    llm: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"prompts": self.prompts, "responses": self.responses, "kept": self.kept,
                "dropped": dict(self.dropped), "incomplete": self.incomplete, "llm": dict(self.llm)}

    def funnel(self) -> Funnel:
        """Counted in responses (K per prompt), not prompts."""
        return Funnel(self.responses, self.kept, {**self.dropped, "incomplete": self.incomplete})


def base_model(lake: Lake, settings: TracesSettings) -> str:
    """The base model whose bands select prompts: the configured one, else the only one scored."""
    if settings.base_model:
        return settings.base_model
    models = store.difficulty_models(lake)
    if len(models) > 1:
        raise UserError(f"difficulty holds bands of several base models ({', '.join(models)}): "
                        "set traces.base_model (or --base-model) to the one whose bands select prompts")
    return models[0] if models else ""


def select_prompts(lake: Lake, settings: TracesSettings) -> list[dict]:
    return store.select_prompts(lake, settings.bands, settings.include_rewritten, settings.teacher.model,
                                settings.limit, base_model(lake, settings))


def build_request(settings: TracesSettings, problem: str) -> LLMRequest:
    return LLMRequest(
        messages=(Message(role="system", content=settings.system_prompt), Message(role="user", content=problem)),
        temperature=settings.temperature, max_tokens=settings.max_tokens, template_version=TEMPLATE,
    )


def apply_keep_policy(checked: list[Checked], tokens: list[int], keep: str) -> list[Checked]:
    """best_of_k keeps only the shortest correct response; the others become `not_best`."""
    if keep != "best_of_k":
        return checked
    kept = [i for i, c in enumerate(checked) if c.status == "kept"]
    if len(kept) <= 1:
        return checked
    best = min(kept, key=lambda i: (tokens[i], i))
    return [c if i == best or c.status != "kept" else Checked("dropped", "not_best", c.reasoning, c.solution,
                                                               c.final_answer, c.correct)
            for i, c in enumerate(checked)]


MAX_FAILED_SHARE = 0.5  # more failed samples than this: the run exits non-zero


class TracesStage:
    def __init__(self, lake: Lake, settings: TracesSettings, run_id: str, cache_path: Path, engine: Engine | None = None,
                 factory: EngineFactory | None = None):
        self.lake, self.settings, self.run_id = lake, settings, run_id
        self.client = LLMClient(settings.teacher, cache_path, run_id=run_id, stage="traces", engine=engine,
                                factory=factory)
        self.client.preflight = teacher_preflight(settings.system_prompt, settings.allow_answer_only)
        self.report = TracesReport(run_id, settings.teacher.model)

    def run(self) -> TracesReport:
        prompts = select_prompts(self.lake, self.settings)
        self.report.prompts = len(prompts)
        try:
            for start in range(0, len(prompts), CHUNK):
                self._trace_chunk(prompts[start : start + CHUNK])
            self.client.raise_if_budget_stopped()  # answered rows are kept; a rerun continues
        finally:
            self.client.flush(self.lake)
            self.report.llm = self.client.stats
            self.client.close()
        self._fail_if_mostly_failed()
        return self.report

    def _fail_if_mostly_failed(self) -> None:
        """Failed requests decide nothing (their prompts wait for a rerun), and a run where most
        failed says so and exits non-zero instead of looking like a finished run."""
        llm = self.report.llm
        failed = llm.get("samples_failed", 0)
        asked = failed + llm.get("samples_generated", 0) + llm.get("samples_cached", 0)
        if failed and failed > MAX_FAILED_SHARE * asked:
            why = self.client.errors.most_common(1)[0][0] if self.client.errors else "no response"
            raise UserError(f"traces: {failed} of {asked} samples failed ({why}); "
                            f"{self.report.incomplete} prompts left for the next run")

    def _require_reasoning(self, responses: list[list]) -> None:
        answered = [s for row in responses for s in row if s is not None and s.text.strip()]
        if answered and not self.settings.allow_answer_only and not any(has_reasoning(s) for s in answered):
            raise UserError(
                f"teacher {self.settings.teacher.model} returned no reasoning (no reasoning_content, no <think> "
                f"block) in {len(answered)} responses: use a reasoning model or set allow_answer_only: true"
            )

    def _trace_chunk(self, chunk: list[dict]) -> None:
        s = self.settings
        responses = self.client.samples([build_request(s, p["problem"]) for p in chunk], s.k)
        self._require_reasoning(responses)
        rows = []
        for prompt, samples in zip(chunk, responses):
            if any(sample is None for sample in samples):
                self.report.incomplete += 1  # the endpoint gave up; a rerun asks again
                continue
            checked = [check_response(x, prompt["label"], allow_answer_only=s.allow_answer_only,
                                      min_tokens=s.min_tokens, max_tokens=s.max_trace_tokens,
                                      max_repetition=s.max_repetition, domain=prompt["domain"],
                                      spec=spec_of(prompt["extra"])) for x in samples]
            checked = apply_keep_policy(checked, [x.completion_tokens for x in samples], s.keep)
            rows += [self._row(prompt, index, sample, c) for index, (sample, c) in enumerate(zip(samples, checked))]
        if rows:
            with self.lake.transaction():
                self.lake.insert_new(Trace, pa.Table.from_pylist(rows))

    def _row(self, prompt: dict, index: int, sample, checked: Checked) -> dict:
        self.report.responses += 1
        if checked.status == "kept":
            self.report.kept += 1
        else:
            self.report.dropped[checked.reason] += 1
        return {"prompt_id": prompt["prompt_id"], "teacher": self.settings.teacher.model, "sample_index": index,
                "reasoning": checked.reasoning, "solution": checked.solution, "final_answer": checked.final_answer,
                "correct": checked.correct, "tokens": sample.completion_tokens, "status": checked.status,
                "reason": checked.reason, "run_id": self.run_id,
                "reasoning_channel": sample.channel or reasoning_channel(sample.text, None, None)}


def run_traces(lake: Lake, settings: TracesSettings, run_id: str, cache_path: Path, engine: Engine | None = None,
               factory: EngineFactory | None = None) -> TracesReport:
    return TracesStage(lake, settings, run_id, cache_path, engine, factory=factory).run()


READS = ("prompts", "difficulty")
WRITES = ("traces", "llm_calls")


def run(ctx: StageContext, settings: TracesSettings) -> TracesReport:
    return run_traces(ctx.lake, settings, ctx.run_id, ctx.cache_path, factory=ctx.make_engine)


def estimate(ctx: StageContext, settings: TracesSettings) -> dict:
    """The dry run: what `run` would send and cost now; sends nothing, writes nothing."""
    from tasks.llm.estimate import estimate as estimate_llm

    prompts = select_prompts(ctx.lake, settings)
    requests = [build_request(settings, p["problem"]) for p in prompts]
    return {"prompts": len(prompts), **estimate_llm(ctx.cache_path, "traces", [(settings.teacher, requests, settings.k)])}
