"""Flows layer (cli): `teachable rewrite` and `teachable traces`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

Engine = Annotated[str, typer.Option(help="local (bundled vLLM server), openai (any compatible endpoint) or vllm (in-process).")]
Model = Annotated[Optional[str], typer.Option(help="Model name (served name for local/openai, path or id for vllm).")]
BaseUrl = Annotated[Optional[str], typer.Option(help="OpenAI-compatible base URL, for --engine openai.")]
KeyEnv = Annotated[str, typer.Option(help="Environment variable holding the API key.")]
DryRun = Annotated[bool, typer.Option(help="Print requests, cached samples, tokens and cost; send and write nothing.")]
Budget = Annotated[Optional[float], typer.Option(help="Most this stage may spend (USD); it stops cleanly at the cap.")]
ReasoningEffort = Annotated[Optional[str], typer.Option(help="reasoning_effort for OpenAI reasoning models (low, medium, high).")]


def _engine(kind: str, model: str | None, base_url: str | None, api_key_env: str, default_model: str, **more):
    from schemas.llm import EngineSettings

    return EngineSettings(kind=kind, model=model or default_model, base_url=base_url, api_key_env=api_key_env,
                          **{k: v for k, v in more.items() if v is not None})


def _run(ctx: typer.Context, stage: str, settings, dry_run: bool = False) -> dict | None:
    from importlib import import_module

    from flows.cli.common import home_of, run_stage

    if dry_run:
        from flows.cli.dryrun import estimate_stages, print_estimates

        print_estimates(estimate_stages(home_of(ctx), [(stage, settings)]))
        return None

    def flow() -> dict:
        return import_module(f"flows.{stage}").subflow(settings, home_of(ctx))

    return run_stage(ctx, stage, settings, flow)


def rewrite_command(
    ctx: typer.Context,
    engine: Engine = "local",
    model: Model = None,
    base_url: BaseUrl = None,
    api_key_env: KeyEnv = "OPENAI_API_KEY",
    attempts: Annotated[int, typer.Option(help="Rewrite samples per prompt (first valid wins).")] = 2,
    limit: Annotated[Optional[int], typer.Option(help="Rewrite at most this many prompts.")] = None,
    dry_run: DryRun = False,
) -> None:
    """Rewrite proofs, multi-part, multiple-choice and answerless prompts into short-answer form."""
    from flows.cli.console import out
    from schemas.traces import RewriteSettings

    settings = RewriteSettings(rewriter=_engine(engine, model, base_url, api_key_env, "smollm2-135m-instruct"),
                               attempts=attempts, limit=limit)
    result = _run(ctx, "rewrite", settings, dry_run)
    if result is None:
        return
    out.print(f"candidates {result['candidates']} = accepted {result['accepted']} + rejected "
              f"{sum(result['rejected'].values())} {result['rejected']}  (why: {result['why_rewritten']})")


def traces_command(
    ctx: typer.Context,
    engine: Engine = "local",
    model: Model = None,
    base_url: BaseUrl = None,
    api_key_env: KeyEnv = "OPENAI_API_KEY",
    k: Annotated[int, typer.Option(help="Teacher responses per prompt.")] = 4,
    band: Annotated[Optional[list[str]], typer.Option(help="Difficulty band to trace (repeatable; default teachable).")] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest response asked for.")] = 4096,
    allow_answer_only: Annotated[bool, typer.Option(help="Accept responses without reasoning.")] = False,
    keep: Annotated[str, typer.Option(help="all_correct or best_of_k.")] = "all_correct",
    limit: Annotated[Optional[int], typer.Option(help="Trace at most this many prompts.")] = None,
    base_model: Annotated[Optional[str], typer.Option(
        help="Base model whose difficulty bands select prompts (default: the only one scored).")] = None,
    reasoning_effort: ReasoningEffort = None,
    budget_usd: Budget = None,
    dry_run: DryRun = False,
) -> None:
    """Ask the teacher for <think> traces of teachable prompts; keep those that pass every filter.

    The teacher is the bundled local model unless named (--engine/--model/--base-url): pick one
    whose reasoning is visible (README: Choosing a teacher)."""
    from flows.cli.console import out
    from schemas.traces import TracesSettings

    if engine != "local" and not model:
        raise typer.BadParameter("name the teacher with --model (README: Choosing a teacher)")
    teacher = _engine(engine, model, base_url, api_key_env, "smollm2-135m-instruct",
                      reasoning_effort=reasoning_effort, budget_usd=budget_usd)
    settings = TracesSettings(teacher=teacher, k=k, bands=band or ["teachable"], max_tokens=max_tokens,
                              allow_answer_only=allow_answer_only, keep=keep, limit=limit, base_model=base_model)
    result = _run(ctx, "traces", settings, dry_run)
    if result is None:
        return
    out.print(f"responses {result['responses']} = kept {result['kept']} + dropped "
              f"{sum(result['dropped'].values())} {result['dropped']}  (prompts {result['prompts']}, "
              f"incomplete {result['incomplete']})")
