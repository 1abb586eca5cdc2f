"""Tasks layer (llm): `LLMClient`, the one way stages ask a model for samples.

For each request it looks up every wanted sample in the response cache, sends only what is
missing through the engine, stores each arrival durably before anything else, and returns
samples in request order. A rerun therefore sends nothing; a crash re-sends only what never
arrived. Counters say what was sent, cached, retried and failed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from schemas.llm import EngineSettings, LLMRequest
from tasks.llm.base import Engine, Job
from tasks.llm.cache import ResponseCache, Sample, flush_calls, sample_key
from tasks.progress import progress
from tasks.failpoints import failpoint


def make_engine(settings: EngineSettings) -> Engine:
    if settings.kind == "vllm":
        from tasks.llm.vllm_engine import VLLMEngine

        return VLLMEngine(settings)
    if settings.kind == "local":
        from tasks.llm.local_engine import LocalServerEngine

        return LocalServerEngine(settings)
    from tasks.llm.openai_engine import OpenAIEngine

    return OpenAIEngine(settings)


class LLMClient:
    def __init__(self, settings: EngineSettings, cache_path: Path, *, run_id: str, stage: str,
                 engine: Engine | None = None):
        self.settings = settings
        self.cache = ResponseCache(cache_path)
        self.run_id, self.stage = run_id, stage
        self._engine = engine
        self._owns_engine = engine is None  # an engine passed in is the caller's to close
        self.stats: Counter = Counter()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings)
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
            self._send(jobs, found)
        return [[found.get(k) for k in keys] for keys in wanted]

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
            done += len(samples)
            sink.update(done)

        def on_call(call: dict) -> None:
            self.cache.log_call(self._tag(call))
            self.stats[f"requests_{call['status']}"] += 1

        try:
            self.engine.run(jobs, on_samples, on_call)
        finally:
            sink.finish()
        self.stats["samples_failed"] += total - done

    def _tag(self, call: dict) -> dict:
        return {**call, "run_id": self.run_id, "stage": self.stage}

    def flush(self, lake) -> int:
        """Copy this cache's new call log rows into the warehouse's `llm_calls`."""
        return flush_calls(self.cache, lake)
