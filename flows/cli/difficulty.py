"""Flows layer (cli): `teachable difficulty`."""

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
    max_tokens: Annotated[int, typer.Option(help="Longest response; truncated samples are incomplete, not wrong.")] = 2048,
    min_complete: Annotated[Optional[int], typer.Option(help="Complete samples a prompt needs to be banded (default n/2), else band incomplete.")] = None,
    rescore_incomplete: Annotated[bool, typer.Option(help="Score prompts banded incomplete again (after raising --max-tokens).")] = False,
    reference_model: Annotated[Optional[str], typer.Option(help="A stronger model that labels prompts without an answer (plurality vote); unset: they stay unlabelled.")] = None,
    reference_engine: Annotated[Optional[str], typer.Option(help="Engine of --reference-model (default: --engine).")] = None,
    reference_base_url: Annotated[Optional[str], typer.Option(help="Base URL of --reference-model (default: --base-url).")] = None,
    reference_api_key_env: Annotated[Optional[str], typer.Option(help="API key variable of --reference-model (default: --api-key-env).")] = None,
    k_reference: Annotated[int, typer.Option(help="Reference samples per prompt without an answer.")] = 8,
    judge_model: Annotated[Optional[str], typer.Option(help="LLM judge for open-domain prompts (judge-verified) and --rate; same engine, URL and key as --engine unless --judge-base-url.")] = None,
    judge_base_url: Annotated[Optional[str], typer.Option(help="Base URL of --judge-model (default: --base-url).")] = None,
    rate: Annotated[bool, typer.Option(help="Ask the judge for a 1-10 difficulty rating of every prompt (difficulty_ratings).")] = False,
    low: Annotated[float, typer.Option(help="Pass rate below which a prompt is too_hard.")] = 0.2,
    high: Annotated[float, typer.Option(help="Pass rate above which a prompt is too_easy.")] = 0.8,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 8,
    dry_run: Annotated[bool, typer.Option(help="Print requests, cached samples, tokens and cost; send and write nothing.")] = False,
) -> None:
    """Sample the base model N times per prompt; band prompts by pass rate (keep the teachable)."""
    from flows.cli.common import home_of, run_stage
    from flows.cli.console import out, print_rows
    from schemas.difficulty import DifficultySettings
    from schemas.llm import EngineSettings

    reference = None
    if reference_model:
        reference = EngineSettings(kind=reference_engine or engine, model=reference_model,
                                   base_url=reference_base_url or base_url,
                                   api_key_env=reference_api_key_env or api_key_env, max_concurrency=concurrency)
    judge = None
    if judge_model:
        judge = EngineSettings(kind=engine, model=judge_model, base_url=judge_base_url or base_url,
                               api_key_env=api_key_env, max_concurrency=concurrency)
    elif rate:
        from schemas.errors import UserError

        raise UserError("--rate needs --judge-model (the model that rates)")
    settings = DifficultySettings(
        base=EngineSettings(kind=engine, model=model, base_url=base_url, api_key_env=api_key_env, max_concurrency=concurrency),
        reference=reference, k_reference=k_reference, min_complete=min_complete, judge=judge, rate=rate,
        rescore_incomplete=rescore_incomplete,
        n=n, limit=limit, sources=source, max_tokens=max_tokens, low=low, high=high,
    )

    if dry_run:
        from flows.cli.dryrun import estimate_stages, print_estimates

        return print_estimates(estimate_stages(home_of(ctx), [("difficulty", settings)]))

    def flow() -> dict:
        from flows.difficulty import difficulty_flow

        return difficulty_flow(settings=settings, home=home_of(ctx))

    result = run_stage(ctx, "difficulty", settings, flow)
    print_rows(result["histogram"], title=f"pass rates ({result['scored']} prompts scored, run {result['run_id']})")
    print_rows(result["bands_rows"], title="bands")
    by_domain = result.get("domains", {})
    outcomes = sorted({o for counts in by_domain.values() for o in counts})
    domains = [{"domain": d, **{o: counts.get(o, 0) for o in outcomes}} for d, counts in by_domain.items()]
    if domains:
        print_rows(domains, title="by domain (band, unlabelled or pending)")
    llm = result["llm"]
    out.print(f"samples generated {llm.get('samples_generated', 0)}, from cache {llm.get('samples_cached', 0)}, "
              f"retries {llm.get('requests_retry', 0)}, truncated samples {result['samples_incomplete']}, "
              f"unlabelled prompts {result['unlabelled']} (no reference model), "
              f"pending prompts {result['pending']} (failed requests: rerun)")
