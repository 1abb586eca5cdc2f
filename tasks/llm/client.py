"""Tasks layer (llm): `LLMClient`, the one way stages ask a model for samples.

For each request it looks up every wanted sample in the response cache, sends only what is
missing through the engine, stores each arrival durably before anything else, and returns
samples in request order. A rerun therefore sends nothing; a crash re-sends only what never
arrived. Counters say what was sent, cached, retried, failed and spent (cost None = unknown,
never 0). `estimate` answers a dry run without sending or writing anything; `preflight` (set by
a stage) probes the endpoint once before the first real batch; a budget cap that stops the
engine makes the next `samples` call raise `BudgetExhausted` after the stage kept what it got.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from schemas.llm import EngineSettings, LLMRequest
from tasks.llm.base import Engine, Job
from tasks.llm.budget import BudgetExhausted
from tasks.llm.gates import EndpointGate
from tasks.llm.cache import ResponseCache, Sample, flush_calls, sample_key
from tasks.llm.pricing import cost_usd, price_of, prompt_tokens_guess
from tasks.progress import progress
from tasks.failpoints import failpoint


EngineFactory = Callable[[EngineSettings], Engine]


def make_engine(settings: EngineSettings, gate: EndpointGate | None = None, api_key: str | None = None) -> Engine:
    """The engine `settings.kind` names; `gate` shares endpoint limits across processes; `api_key`:
    a key the flows layer resolved (api_key_secret), else the engine reads `api_key_env`."""
    if settings.kind == "vllm":
        from tasks.llm.vllm_engine import VLLMEngine

        return VLLMEngine(settings)
    if settings.kind == "openai_batch":
        from tasks.llm.batch_engine import OpenAIBatchEngine

        return OpenAIBatchEngine(settings, gate=gate)
    if settings.kind == "local":
        from tasks.llm.local_engine import LocalServerEngine

        return LocalServerEngine(settings, gate=gate)
    from tasks.llm.openai_engine import OpenAIEngine

    return OpenAIEngine(settings, gate=gate, api_key=api_key)


class LLMClient:
    def __init__(self, settings: EngineSettings, cache_path: Path, *, run_id: str, stage: str,
                 engine: Engine | None = None, factory: EngineFactory | None = None):
        self.settings = settings
        self.cache = ResponseCache(cache_path)
        self.run_id, self.stage = run_id, stage
        self._engine = engine
        self._owns_engine = engine is None  # an engine passed in is the caller's to close
        self._factory = factory or make_engine
        self.stats: Counter = Counter()
        self.errors: Counter = Counter()  # final errors by message: why a stage's requests failed
        self.preflight: Callable[[Engine, Callable[[dict], None]], object] | None = None
        self.probe: object | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._factory(self.settings)
            if hasattr(self._engine, "bind"):  # the batch engine keeps its ledger in this cache
                self._engine.bind(self.cache, self.run_id, self.stage)
        return self._engine

    def close(self) -> None:
        if self._engine is not None and self._owns_engine:
            self._engine.close()
        self.cache.close()

    def keys(self, request: LLMRequest, n: int) -> list[str]:
        return [sample_key(self.settings.model, request, i) for i in range(n)]

    def samples(self, requests: list[LLMRequest], n: int) -> list[list[Sample | None]]:
        """n samples per request (None where the endpoint gave up; a rerun asks again)."""
        wanted = [self.keys(r, n) for r in requests]
        found = self.cache.get_many([k for keys in wanted for k in keys])
        jobs = [Job(r, [k for k in keys if k not in found]) for r, keys in zip(requests, wanted)]
        jobs = [j for j in jobs if j.keys]
        self.stats["samples_cached"] += len(found)
        if jobs:
            self._check_budget()
            self._run_preflight()
            self._send(jobs, found)
        return [[found.get(k) for k in keys] for keys in wanted]

    def _budget(self):
        return getattr(self._engine, "budget", None) if self._engine is not None else None

    @property
    def budget_stopped(self) -> bool:
        budget = self._budget()
        return bool(budget is not None and budget.stopped)

    def raise_if_budget_stopped(self) -> None:
        self._check_budget()

    def _check_budget(self) -> None:
        if self.budget_stopped:
            raise BudgetExhausted(self._budget().message(f"{self.stage} ({self.settings.model})"))

    def _run_preflight(self) -> None:
        if self.preflight is None or self.probe is not None:
            return
        self.probe = self.preflight(self.engine, lambda call: self.cache.log_call(self._tag(call)))

    def estimate(self, requests: list[LLMRequest], n: int) -> dict:
        """What `samples(requests, n)` would send and cost; sends nothing, writes nothing."""
        wanted = [self.keys(r, n) for r in requests]
        found = self.cache.get_many([k for keys in wanted for k in keys])
        missing = [(r, sum(k not in found for k in keys)) for r, keys in zip(requests, wanted)]
        missing = [(r, m) for r, m in missing if m]
        samples = sum(m for _, m in missing)
        to_send = len(missing) if self.settings.supports_n else samples
        seen = self.cache.usage_per_sample(self.stage, self.settings.model)
        if seen is not None:
            per_request, per_sample, calls = seen
            prompt = round(per_request * to_send)
            completion = round(per_sample * samples)
            source = f"cache statistics ({calls} answered requests)"
        else:
            fan = 1 if self.settings.supports_n else None
            prompt = sum(prompt_tokens_guess(r) * (fan or m) for r, m in missing)
            completion = sum(r.max_tokens * m for r, m in missing)
            source = "settings (prompt length / 4, max_tokens per sample: an upper bound)"
        price = price_of(self.settings)
        cost = cost_usd(price, prompt, completion)
        return {"model": self.settings.model, "requests": to_send, "samples_cached": len(found),
                "samples_to_send": samples, "prompt_tokens": prompt, "completion_tokens": completion,
                "cost_usd": cost, "cost": "unknown" if cost is None else f"${cost:.4f}", "estimated_from": source}

    def _send(self, jobs: list[Job], found: dict[str, Sample]) -> None:
        total = sum(len(j.keys) for j in jobs)
        sink = progress()
        sink.start(f"{self.stage}: {self.settings.model}", total)
        done = 0

        def on_samples(job: Job, keys: list[str], samples: list[Sample], call: dict) -> None:
            nonlocal done
            self.cache.put(dict(zip(keys, samples)), self.settings.model, self._tag(call))
            failpoint(f"llm.samples.{self.stage}")  # cached, stage rows not yet written
            found.update(zip(keys, samples))
            self.stats["requests_ok"] += 1
            self.stats["samples_generated"] += len(samples)
            self.stats["completion_tokens"] += sum(s.completion_tokens for s in samples)
            if call.get("cost_usd") is None:
                self.stats["requests_cost_unknown"] += 1  # never counted as free
            else:
                self.stats["cost_usd"] += call["cost_usd"]
            done += len(samples)
            sink.update(done)

        def on_call(call: dict) -> None:
            self.cache.log_call(self._tag(call))
            self.stats[f"requests_{call['status']}"] += 1
            if call["status"] == "error":
                self.errors[str(call.get("error") or "unknown error")[:160]] += 1

        try:
            self.engine.run(jobs, on_samples, on_call)
        finally:
            sink.finish()
        self.stats["samples_failed"] += total - done

    def collect_batches(self) -> tuple[int, int]:
        """Store every finished Batch API batch of this engine: (collected, still open)."""
        collect = getattr(self.engine, "collect_pending", None)
        if collect is None:
            return 0, 0

        def on_samples(job: Job, keys: list[str], samples: list[Sample], call: dict) -> None:
            self.cache.put(dict(zip(keys, samples)), self.settings.model, self._tag(call))
            self.stats["samples_generated"] += len(samples)

        return collect(on_samples, lambda call: self.cache.log_call(self._tag(call)))

    def _tag(self, call: dict) -> dict:
        return {**call, "run_id": self.run_id, "stage": self.stage}

    def flush(self, lake) -> int:
        """Copy this cache's new call log rows into the warehouse's `llm_calls`."""
        return flush_calls(self.cache, lake)
