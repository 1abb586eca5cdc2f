"""Flows layer: the body of `teachable difficulty` (registered in flows/cli.py)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def command(
    ctx: typer.Context,
    n: Annotated[int, typer.Option(help="Samples of the base model per prompt.")] = 8,
    engine: Annotated[str, typer.Option(help="local (bundled vLLM server), openai (any compatible endpoint) or vllm (in-process).")] = "local",
    model: Annotated[str, typer.Option(help="Model name (served name for local/openai, path or id for vllm).")] = "smollm2-135m-instruct",
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible base URL, for --engine openai.")] = None,
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key.")] = "OPENAI_API_KEY",
    limit: Annotated[Optional[int], typer.Option(help="Score at most this many prompts.")] = None,
    source: Annotated[Optional[list[str]], typer.Option(help="Only prompts of this source (repeatable).")] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest response.")] = 512,
    low: Annotated[float, typer.Option(help="Pass rate below which a prompt is too_hard.")] = 0.2,
    high: Annotated[float, typer.Option(help="Pass rate above which a prompt is too_easy.")] = 0.8,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 8,
) -> None:
    """Sample the base model N times per prompt; band prompts by pass rate (keep the teachable)."""
    from flows.cli import _home, _run_flow
    from flows.console import out, print_rows
    from schemas.difficulty import DifficultySettings
    from schemas.llm import EngineSettings

    settings = DifficultySettings(
        base=EngineSettings(kind=engine, model=model, base_url=base_url, api_key_env=api_key_env, max_concurrency=concurrency),
        n=n, limit=limit, sources=source, max_tokens=max_tokens, low=low, high=high,
    )

    def start() -> dict:
        from flows.difficulty import difficulty_flow

        return difficulty_flow(settings=settings, home=_home(ctx))

    result = _run_flow(start, _home(ctx))
    print_rows(result["histogram"], title=f"pass rates ({result['scored']} prompts scored, run {result['run_id']})")
    print_rows(result["bands_rows"], title="bands")
    llm = result["llm"]
    out.print(f"samples generated {llm.get('samples_generated', 0)}, from cache {llm.get('samples_cached', 0)}, "
              f"retries {llm.get('requests_retry', 0)}, incomplete prompts {result['incomplete']}")
