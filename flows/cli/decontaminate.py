"""Flows layer (cli): `teachable decontaminate`.

Builds `DecontamSettings` from flags and checks the benchmark specs before Prefect starts
(a bad path or name is one line and exit 2), runs the decontamination stage and prints the
hits per benchmark and method. Heavy modules are imported inside so `--help` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def command(
    ctx: typer.Context,
    benchmarks: Annotated[list[str], typer.Option(
        "--benchmarks", "-b",
        help="DIR (every known benchmark file in it, by name), NAME=PATH, hf://ID or NAME=hf://ID; repeat for more.")],
    no_ngram: Annotated[bool, typer.Option("--no-ngram", help="Skip the n-gram layer.")] = False,
    no_short: Annotated[bool, typer.Option("--no-short", help="Skip the short-item layer.")] = False,
    no_minhash: Annotated[bool, typer.Option("--no-minhash", help="Skip the MinHash layer.")] = False,
    no_embedding: Annotated[bool, typer.Option("--no-embedding", help="Skip the embedding layer (rephrased copies).")] = False,
    ngram_n: Annotated[int, typer.Option(help="Any shared n-gram of this length flags a prompt.")] = 13,
    ratio_contaminated: Annotated[float, typer.Option(help="7-gram overlap ratio that flags a prompt.")] = 0.5,
    ratio_partial: Annotated[float, typer.Option(help="7-gram overlap ratio that makes a pair borderline.")] = 0.25,
    minhash_threshold: Annotated[float, typer.Option(help="Estimated Jaccard that flags a prompt.")] = 0.6,
    numbers_agreement: Annotated[float, typer.Option(help="Share of numbers a flagged pair must have in common.")] = 0.8,
    embedding_model: Annotated[Optional[str], typer.Option(help="sentence-transformers model name or folder (default: all-MiniLM-L6-v2, offline copy).")] = None,
    embedding_threshold: Annotated[float, typer.Option(help="Cosine that flags an agreeing pair.")] = 0.77,
    judge: Annotated[bool, typer.Option("--judge", help="Ask an LLM (OpenAI-compatible) about borderline pairs.")] = False,
    judge_base_url: Annotated[str, typer.Option(help="Judge endpoint.")] = "http://127.0.0.1:8000/v1",
    judge_model: Annotated[str, typer.Option(help="Judge model name.")] = "SmolLM2-135M-Instruct",
    judge_api_key_env: Annotated[str, typer.Option(help="Environment variable with the judge's API key.")] = "OPENAI_API_KEY",
    judge_max_pairs: Annotated[int, typer.Option(help="Most pairs judged per run.")] = 200,
    no_siblings: Annotated[bool, typer.Option("--no-siblings", help="Skip the sibling layer (benchmark items with other numbers).")] = False,
    sibling_policy: Annotated[str, typer.Option(help="What a sibling becomes: drop (a contamination row), review (a borderline pair for the judge) or keep.")] = "drop",
    embedding_max_share: Annotated[float, typer.Option(help="Share of each chunk's prompts the embedding model may see (the best TF-IDF candidates).")] = 0.01,
    batch_size: Annotated[int, typer.Option(help="Prompts per chunk; each chunk is committed on its own.")] = 5_000,
    task_runner: Annotated[Optional[str], typer.Option(help="Where chunks run: local (this process), threads[:N] or dask://HOST:PORT (an existing Dask cluster).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines on stderr.")] = False,
) -> None:
    """Flag prompts that copy benchmark problems; each detection is a `contamination` row."""
    from flows.cli.common import run_sharded_stage
    from flows.runtime.runner_spec import check
    from schemas.decontam import DEFAULT_EMBEDDING_MODEL, DecontamSettings
    from schemas.llm import EngineSettings
    from tasks.decontam.loading import resolve_sources

    settings = DecontamSettings(
        benchmarks=benchmarks, ngram=not no_ngram, short_items=not no_short, minhash=not no_minhash,
        embedding=not no_embedding, ngram_n=ngram_n, ratio_contaminated=ratio_contaminated,
        ratio_partial=ratio_partial, minhash_threshold=minhash_threshold, numbers_agreement=numbers_agreement,
        embedding_model=embedding_model or DEFAULT_EMBEDDING_MODEL, embedding_threshold=embedding_threshold,
        judge=EngineSettings(kind="openai", base_url=judge_base_url, model=judge_model, api_key_env=judge_api_key_env,
                             timeout_s=60) if judge else None,
        judge_max_pairs=judge_max_pairs, batch_size=batch_size, siblings=not no_siblings,
        sibling_policy=sibling_policy, embedding_max_share=embedding_max_share,
    )
    resolve_sources(settings.benchmarks)  # fail fast, before Prefect starts
    check(task_runner)  # a bad value or an unreachable scheduler: one line, before Prefect starts
    if not quiet:
        log_progress()
    print_result(run_sharded_stage(ctx, "decontaminate", settings, task_runner))


def log_progress() -> None:
    """The stage's per-chunk progress lines (logger `teachable.decontam`) on stderr, with times,
    so a log file shows how far a long run got, not only the terminal bar."""
    import logging
    import sys

    logger = logging.getLogger("teachable.decontam")
    logger.setLevel(logging.INFO)
    if not logger.hasHandlers():  # Prefect's logging setup, when loaded, already shows them
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def print_result(result: dict) -> None:
    from flows.cli.console import out, print_rows

    print_rows(result["hits"], title=f"contaminated prompts per benchmark and method (run {result['run_id']})")
    if result["counts"].get("siblings"):
        print_rows([{"benchmark": b, "siblings": n} for b, n in sorted(result["counts"]["siblings"].items())],
                   title="benchmark siblings (items with other numbers) found in this run")
    c = result["counts"]
    judged = ", ".join(f"{k} {v}" for k, v in sorted(c["judged"].items())) or "off"
    out.print(
        f"checked {c['checked']} (already checked {c['already_checked']}): contaminated {c['contaminated']}, "
        f"borderline pairs {c['reviews']}, judge: {judged}  (snapshot {result['snapshot_id']})"
    )
