"""Benchmark: the difficulty stage's generated tokens/s against the raw engine's, same run.

For each engine the raw baseline and the stage get different prompts of the same kind and
size (so the stage cannot hit the cache), the same concurrency and the same `n`:
- openai engine: a plain `AsyncOpenAI` loop against the local vLLM server vs. the stage
  through `LLMClient` (cache writes, verification, warehouse writes included);
- vllm engine: a plain in-process `LLM.chat` vs. the stage through `VLLMEngine`.
Target (issue 4): stage / raw >= 0.90 for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

from schemas.config import IngestSettings, SourceSettings
from schemas.difficulty import DifficultySettings
from schemas.llm import EngineSettings
from tasks.difficulty import store
from tasks.difficulty.stage import build_request, run_difficulty
from tasks.ingest.stage import ingest_source
from warehouse.home import Home
from warehouse.lake import Lake


def seed(home: Home, source: str, n: int, seed_value: int) -> None:
    with Lake(home) as lake:
        spec = f"procedural://?n={n}&seed={seed_value}&kinds=arithmetic,linear,word,fractions"
        ingest_source(lake, SourceSettings(name=source, paths=[spec]), IngestSettings(), f"seed-{source}")


def settings(engine: EngineSettings, args, source: str) -> DifficultySettings:
    return DifficultySettings(base=engine, n=args.n, max_tokens=args.max_tokens, sources=[source],
                              chunk_prompts=args.prompts)


def raw_openai(base_url: str, model: str, requests, n: int, concurrency: int) -> tuple[int, float]:
    import openai

    async def go() -> int:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=600)
        gate = asyncio.Semaphore(concurrency)

        async def one(request) -> int:
            async with gate:
                response = await client.chat.completions.create(
                    model=model, messages=[m.model_dump() for m in request.messages], n=n,
                    temperature=request.temperature, max_tokens=request.max_tokens, seed=request.seed)
                return response.usage.completion_tokens

        try:
            return sum(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            await client.close()

    started = time.perf_counter()
    tokens = asyncio.run(go())
    return tokens, time.perf_counter() - started


def stage_run(home: Home, diff: DifficultySettings, engine=None) -> tuple[int, float]:
    started = time.perf_counter()
    with Lake(home) as lake:
        report = run_difficulty(lake, diff, f"bench-{diff.sources[0]}", home.cache / "llm.sqlite", engine=engine)
    return report.llm["completion_tokens"], time.perf_counter() - started


def requests_for(home: Home, diff: DifficultySettings):
    with Lake(home) as lake:
        prompts = store.select_prompts(lake, diff.base.model, diff.sources, diff.limit)
        return [build_request(diff, p["problem"], "raw-1") for p in prompts]


def result(raw: tuple[int, float], stage: tuple[int, float]) -> dict:
    raw_tps, stage_tps = raw[0] / raw[1], stage[0] / stage[1]
    return {"raw_tokens": raw[0], "raw_s": round(raw[1], 1), "raw_tok_per_s": round(raw_tps, 1),
            "stage_tokens": stage[0], "stage_s": round(stage[1], 1), "stage_tok_per_s": round(stage_tps, 1),
            "ratio": round(stage_tps / raw_tps, 3)}


def bench_openai(home: Home, args) -> dict:
    from tasks.llm.local_model import LocalModelServer, ServerSettings, ensure_local_model

    with LocalModelServer(ServerSettings(model=str(ensure_local_model()))) as server:
        engine = EngineSettings(kind="openai", base_url=server.base_url, model=server.model_name,
                                max_concurrency=args.concurrency)
        raw_settings, stage_settings = settings(engine, args, "raw"), settings(engine, args, "stage")
        raw_openai(server.base_url, server.model_name, requests_for(home, raw_settings)[:2], args.n, 2)  # warm-up
        raw = raw_openai(server.base_url, server.model_name, requests_for(home, raw_settings), args.n, args.concurrency)
        stage = stage_run(home, stage_settings)
    return {"engine": "openai", "concurrency": args.concurrency, **result(raw, stage)}


def bench_vllm(home: Home, args) -> dict:
    from tasks.llm.base import Job
    from tasks.llm.vllm_engine import VLLMEngine

    engine_settings = EngineSettings(kind="vllm", vllm_args={"max_model_len": 1024})
    engine = VLLMEngine(engine_settings)
    try:
        raw_settings = settings(engine_settings, args, "raw-vllm")
        jobs = [Job(r, [str(i) for i in range(args.n)]) for r in requests_for(home, raw_settings)]
        engine.generate(jobs[:2])  # warm-up
        started = time.perf_counter()
        outputs = engine.generate(jobs)
        raw = (sum(len(c.token_ids) for o in outputs for c in o.outputs), time.perf_counter() - started)
        stage = stage_run(home, settings(engine_settings, args, "stage-vllm"), engine=engine)
    finally:
        engine.close()
    return {"engine": "vllm", **result(raw, stage)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--engines", default="openai,vllm")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="teachable-bench-difficulty-"))
    try:
        home = Home.resolve(work / "home")
        for offset, source in enumerate(("raw", "stage", "raw-vllm", "stage-vllm")):
            seed(home, source, args.prompts, 1000 + offset)
        runs = {"openai": bench_openai, "vllm": bench_vllm}
        rows = [runs[name](home, args) for name in args.engines.split(",")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = {"bench": "difficulty", "prompts": args.prompts, "n": args.n, "max_tokens": args.max_tokens,
           "engines": rows, "target_ratio": 0.9, "meets_targets": all(r["ratio"] >= 0.9 for r in rows)}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
