"""Tasks layer (llm): the dry run of an LLM stage, summed over the engines it would call.

A stage module's `estimate(ctx, settings)` builds the requests its `run` would send and hands
them here; the response cache says which samples are already answered and, when this stage and
model have answered calls, how many tokens a request and a sample take. Nothing is sent and
nothing is written: a home without a cache yet is estimated against an empty one in a
temporary folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from schemas.llm import EngineSettings, LLMRequest
from tasks.llm.client import LLMClient

Part = tuple[EngineSettings, list[LLMRequest], int]


def estimate(cache_path: Path, stage: str, parts: list[Part]) -> dict:
    with tempfile.TemporaryDirectory(prefix="teachable-dry-run-") as scratch:
        path = cache_path if cache_path.exists() else Path(scratch) / "llm.sqlite"
        found = [_one(path, stage, *part) for part in parts]
    total = {key: sum(f[key] for f in found) for key in
             ("requests", "samples_cached", "samples_to_send", "prompt_tokens", "completion_tokens")}
    priced = [f["cost_usd"] for f in found if f["requests"]]
    cost = None if any(c is None for c in priced) else sum(priced)
    return {"stage": stage, "models": ", ".join(dict.fromkeys(f["model"] for f in found)), **total,
            "cost_usd": cost, "cost": "unknown (no price for this model)" if cost is None else f"${cost:.4f}",
            "estimated_from": "; ".join(dict.fromkeys(f["estimated_from"] for f in found))}


def _one(path: Path, stage: str, settings: EngineSettings, requests: list[LLMRequest], n: int) -> dict:
    client = LLMClient(settings, path, run_id="dry-run", stage=stage)
    try:
        return client.estimate(requests, n)
    finally:
        client.close()
