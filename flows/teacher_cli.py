"""Flows layer: bodies of `teachable rewrite` and `teachable traces` (registered in flows/cli.py)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

Engine = Annotated[str, typer.Option(help="local (bundled vLLM server), openai (any compatible endpoint) or vllm (in-process).")]
Model = Annotated[Optional[str], typer.Option(help="Model name (served name for local/openai, path or id for vllm).")]
BaseUrl = Annotated[Optional[str], typer.Option(help="OpenAI-compatible base URL, for --engine openai.")]
KeyEnv = Annotated[str, typer.Option(help="Environment variable holding the API key.")]


def _engine(kind: str, model: str | None, base_url: str | None, api_key_env: str, default_model: str):
    from schemas.llm import EngineSettings

    return EngineSettings(kind=kind, model=model or default_model, base_url=base_url, api_key_env=api_key_env)


def _run(ctx: typer.Context, flow_name: str, settings) -> dict:
    from flows.cli import _home, _run_flow

    def start() -> dict:
        if flow_name == "rewrite":
            from flows.rewrite import rewrite_flow

            return rewrite_flow(settings=settings, home=_home(ctx))
        from flows.traces import traces_flow

        return traces_flow(settings=settings, home=_home(ctx))

    return _run_flow(start, _home(ctx))


def rewrite_command(
    ctx: typer.Context,
    engine: Engine = "local",
    model: Model = None,
    base_url: BaseUrl = None,
    api_key_env: KeyEnv = "OPENAI_API_KEY",
    attempts: Annotated[int, typer.Option(help="Rewrite samples per prompt (first valid wins).")] = 2,
    limit: Annotated[Optional[int], typer.Option(help="Rewrite at most this many prompts.")] = None,
) -> None:
    """Rewrite proofs, multi-part, multiple-choice and answerless prompts into short-answer form."""
    from flows.console import out
    from schemas.traces import RewriteSettings

    settings = RewriteSettings(rewriter=_engine(engine, model, base_url, api_key_env, "smollm2-135m-instruct"),
                               attempts=attempts, limit=limit)
    result = _run(ctx, "rewrite", settings)
    out.print(f"candidates {result['candidates']} = accepted {result['accepted']} + rejected "
              f"{sum(result['rejected'].values())} {result['rejected']}  (why: {result['why_rewritten']})")


def traces_command(
    ctx: typer.Context,
    engine: Engine = "openai",
    model: Model = None,
    base_url: BaseUrl = None,
    api_key_env: KeyEnv = "OPENAI_API_KEY",
    k: Annotated[int, typer.Option(help="Teacher responses per prompt.")] = 4,
    band: Annotated[Optional[list[str]], typer.Option(help="Difficulty band to trace (repeatable; default teachable).")] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest response asked for.")] = 4096,
    allow_answer_only: Annotated[bool, typer.Option(help="Accept responses without reasoning.")] = False,
    keep: Annotated[str, typer.Option(help="all_correct or best_of_k.")] = "all_correct",
    limit: Annotated[Optional[int], typer.Option(help="Trace at most this many prompts.")] = None,
) -> None:
    """Ask the teacher for <think> traces of teachable prompts; keep those that pass every filter."""
    from flows.console import out
    from schemas.traces import TracesSettings

    settings = TracesSettings(teacher=_engine(engine, model, base_url, api_key_env, "o4-mini"), k=k,
                              bands=band or ["teachable"], max_tokens=max_tokens,
                              allow_answer_only=allow_answer_only, keep=keep, limit=limit)
    result = _run(ctx, "traces", settings)
    out.print(f"responses {result['responses']} = kept {result['kept']} + dropped "
              f"{sum(result['dropped'].values())} {result['dropped']}  (prompts {result['prompts']}, "
              f"incomplete {result['incomplete']})")
