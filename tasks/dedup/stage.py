"""Tasks layer (dedup): the dedup stage, pending prompts in, `duplicates` + kept-pool keys out.

`run_dedup` takes every prompt that has no `duplicates` row and is not yet in the kept pool of
these settings, in keep-preference order, and removes (1) exact duplicates by normalised-text
hash, (2) near duplicates by MinHash LSH (signatures in worker processes over shards, band keys
grouped by sorting, candidates verified by exact Jaccard and the number guard, clusters by
union-find), (3) optionally semantic duplicates by embeddings. Every dropped prompt gets one
`duplicates` row naming the kept prompt; every kept one a `dedup_signatures` row. All rows of a
run are one transaction (one snapshot): a crash leaves nothing, a rerun redoes it; a rerun with
nothing pending writes nothing. considered = kept + dropped (by method).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.dedup import DedupSettings
from tasks.dedup import store
from tasks.dedup.report import DedupReport, Pending
from tasks.dedup.clusters import Drop, resolve
from tasks.dedup.lsh import candidate_pairs
from tasks.dedup.minhash import LshParams, choose_bands, sign_shard
from tasks.dedup.semantic import semantic_duplicates
from tasks.dedup.shingles import ShingleSets, number_hashes, shingle, shingle_sets
from tasks.dedup.kernels import jaccard_of_pairs, warm_up_in_background
from tasks.dedup.pairs import AnswerCheck, answer_guard, keep_similar
from tasks.progress import progress
from tasks.shards import ShardMapper, Workers, default_workers, warm_up
from tasks.stage import StageContext
from warehouse.lake import Lake


def lsh_params(settings: DedupSettings) -> LshParams:
    if settings.bands is not None and settings.rows is not None:
        bands, rows = settings.bands, settings.rows
    else:
        bands, rows = choose_bands(settings.threshold, settings.num_perm, settings.candidate_recall)
    return LshParams(settings.shingle, settings.ngram, bands, rows, settings.seed)


def params_key(settings: DedupSettings) -> str:
    """Names everything that decides which prompts are kept; changing any of it re-examines the
    pool (batching, workers, device and source priority do not change what is a duplicate)."""
    semantic = settings.model_dump(exclude={"workers", "shard_size", "source_priority", "embedding"})
    if settings.embedding.enabled:
        semantic["embedding"] = settings.embedding.model_dump(include={"model", "threshold"})
    digest = hashlib.blake2b(json.dumps(semantic, sort_keys=True).encode(), digest_size=4).hexdigest()
    method = lsh_params(settings).key if settings.minhash else "exact"
    return f"{method}-{digest}"


@contextmanager
def _timed(report: DedupReport, phase: str):
    start = time.perf_counter()
    yield
    report.seconds[phase] = round(report.seconds.get(phase, 0.0) + time.perf_counter() - start, 3)


def _rank(lake: Lake, settings: DedupSettings, report: DedupReport) -> tuple[pa.Table, pa.Table]:
    """(exact duplicates, the other pending prompts), both in keep-preference order."""
    ranked = store.pending(lake, report.params_key, settings.source_priority)
    report.considered = ranked.num_rows
    is_exact = pc.is_valid(ranked.column("exact_of"))
    return ranked.filter(is_exact), ranked.filter(pc.invert(is_exact))


def _sign(lake: Lake, settings: DedupSettings, survivors: pa.Table, workers: ShardMapper) -> Pending:
    """Band keys, number hashes and shingle sets of every survivor: shards stream from the
    warehouse to the worker processes while earlier shards are signed. The texts are kept
    only for semantic dedup (verification needs the shingle sets alone)."""
    m = survivors.num_rows
    params = lsh_params(settings)
    keys = np.zeros((m, params.bands if settings.minhash else 0), np.int64)
    has, numbers = np.zeros(m, bool), np.zeros(m, np.uint64)
    texts, sets, order = [], [], []
    keep_texts = settings.embedding.enabled
    sink = progress()
    sink.start("dedup: signing prompts", None)

    def shards() -> Iterator[tuple[np.ndarray, tuple]]:
        ids = pa.table({"id": np.arange(m, dtype=np.int64), "prompt_id": survivors.column("prompt_id")})
        for batch in store.stream_problems(lake, ids, settings.shard_size):
            order.append(batch.column("id").to_numpy())
            if keep_texts:
                texts.append(batch.column("problem"))
            yield order[-1], (batch.column("problem"), params)

    done = 0
    if settings.minhash:
        for shard_ids, signed in workers.map(sign_shard, shards()):
            keys[shard_ids], has[shard_ids] = signed.keys, signed.has_shingles
            numbers[shard_ids] = signed.numbers
            sets.append(signed.sets)
            done += len(shard_ids)
            sink.update(done, read=done)
    elif keep_texts:
        for _ in shards():  # the texts only, for the encoder
            pass
    sink.finish()
    row = np.zeros(m, np.int64)
    if order:
        row[np.concatenate(order)] = np.arange(m)
    return Pending(survivors.column("prompt_id").combine_chunks(), keys, has, numbers, ShingleSets.concat(sets),
                   row, pa.chunked_array(texts, pa.string()) if keep_texts else None)


def _workers(settings: DedupSettings, m: int) -> int:
    # One shard does not pay for starting worker processes.
    return 1 if m <= settings.shard_size else (settings.workers or default_workers())


def _mapper(
    shards: ShardMapper | None, settings: DedupSettings, m: int
) -> AbstractContextManager[ShardMapper]:
    """The caller's mapper (it owns its lifetime), else the local pool, closed after the run."""
    return nullcontext(shards) if shards is not None else Workers(_workers(settings, m))


def _pool_candidates(
    lake: Lake, pending: Pending, rows: np.ndarray, report: DedupReport
) -> tuple[list[str], tuple]:
    """Kept-pool prompts sharing a band key with a pending one: (their prompt ids, the
    (keys, ids, bands) arrays candidate_pairs takes); pool ids start at len(pending)."""
    if not report.pool_before or not len(rows):
        return [], (None, None, None)
    matches = store.pool_matches(lake, report.params_key, pending.keys[rows].ravel())
    names, index = np.unique(matches.column("prompt_id").to_numpy(zero_copy_only=False), return_inverse=True)
    ids = len(pending) + index.astype(np.int64)
    return names.tolist(), (matches.column("key").to_numpy(), ids, matches.column("band").to_numpy())


def _near_duplicates(
    lake: Lake, settings: DedupSettings, pending: Pending, report: DedupReport
) -> tuple[list[Drop], list[str]]:
    """MinHash drops (ids: pending positions, then pool ids) and the pool's prompt ids."""
    m = len(pending)
    rows = np.flatnonzero(pending.has_shingles)
    pool_ids, (old_keys, old_ids, old_bands) = _pool_candidates(lake, pending, rows, report)
    old_texts = store.problems(lake, pool_ids)
    # Unless number variants may merge, buckets split by the number hash before pairs exist:
    # a templated family shares band keys but never becomes candidate pairs.
    numbers = None if settings.merge_number_variants else np.concatenate(
        [pending.numbers, number_hashes(old_texts) if old_texts else np.zeros(0, np.uint64)])
    split_off: list[int] = []
    pairs = candidate_pairs(pending.keys[rows], rows.astype(np.int64), old_keys, old_ids, old_bands,
                            second=numbers, split_off=split_off)
    report.candidate_pairs = len(pairs)
    if split_off:
        report.rejected["numbers_differ"] += sum(split_off)  # bucket pairs per band, not distinct

    params = lsh_params(settings)
    pool_sets = shingle_sets(shingle(old_texts, params.shingle, params.ngram)) if old_texts else None
    sets = ShingleSets.concat([pending.sets, pool_sets]) if pool_sets else pending.sets
    streamed = np.concatenate([pending.row, m + np.arange(len(pool_ids), dtype=np.int64)])

    def similarity(asked: np.ndarray) -> np.ndarray:
        """Jaccard of rows of global ids (pending ids, then pool ids)."""
        return jaccard_of_pairs(sets.values, sets.offsets, streamed[asked])

    verified = keep_similar([(pairs, similarity(pairs))], settings.threshold, report.rejected)
    check = AnswerCheck()

    known: dict[int, str | None] = {}

    def answers_of(ids: np.ndarray) -> list[str | None]:
        """Reference answers by global id, each fetched once (the drops' ids are the edges')."""
        missing = [i for i in ids.tolist() if i not in known]
        if missing:
            known.update(zip(missing, store.answers(lake, _names(pending, pool_ids, missing))))
        return [known[i] for i in ids.tolist()]

    if settings.answer_aware:
        verified = answer_guard(verified, answers_of, report.rejected, check)
    report.verified_pairs = len(verified.edges)
    drops = resolve(verified.edges, m, similarity)  # also scores members joined through others
    if settings.answer_aware:
        drops = _answers_agree(drops, answers_of, check, report)
    return drops, pool_ids


def _answers_agree(
    drops: list[Drop], answers_of, check: AnswerCheck, report: DedupReport
) -> list[Drop]:
    """Drops whose kept prompt's answer does not differ from theirs: a cluster joined through
    prompts without answers may still hold two different answers; the later one stays kept."""
    if not drops:
        return drops
    pairs = np.array([(d.dropped, d.kept) for d in drops], np.int64)
    ids, local = np.unique(pairs, return_inverse=True)
    answers = answers_of(ids)
    local = local.reshape(-1, 2).tolist()
    check.prepare([(answers[a], answers[b]) for a, b in local])
    out = [d for d, (a, b) in zip(drops, local) if not check.differ(answers[a], answers[b])]
    report.rejected["answers_differ_in_cluster"] += len(drops) - len(out)
    return out


def _names(pending: Pending, pool_ids: list[str], ids: list[int]) -> list[str]:
    """Prompt ids of global ids: pending prompts first, then the kept-pool prompts."""
    n = len(pending)
    local = pending.prompt_ids.take(pa.array([i if i < n else 0 for i in ids], pa.int64())).to_pylist()
    return [name if i < n else pool_ids[i - n] for i, name in zip(ids, local)]


def _duplicate_rows(rows: list[tuple[str, str, str, float]], run_id: str) -> pa.Table:
    columns = list(zip(*rows)) if rows else [[], [], [], []]
    return pa.table({
        "prompt_id": pa.array(columns[0], pa.string()), "duplicate_of": pa.array(columns[1], pa.string()),
        "method": pa.array(columns[2], pa.string()), "similarity": pa.array(columns[3], pa.float64()),
        "run_id": pa.array([run_id] * len(rows), pa.string()),
    })


def _signature_rows(pending: Pending, kept: np.ndarray, params_key: str, run_id: str) -> pa.Table:
    keys = pending.keys[kept]
    lengths = np.where(pending.has_shingles[kept], keys.shape[1], 0)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    flat = keys[pending.has_shingles[kept]].ravel()
    return pa.table({
        "prompt_id": pending.prompt_ids.take(pa.array(kept, pa.int64())),
        "params_key": pa.array([params_key] * len(kept), pa.string()),
        "band_keys": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.int64())),
        "run_id": pa.array([run_id] * len(kept), pa.string()),
    })


def _point_at_kept(rows: list[tuple]) -> list[tuple]:
    """Every row names the kept prompt of its cluster: a prompt matched to one that a later
    method of this run dropped follows it. Exact hops are transparent (same normalised text,
    same similarity to anything); two other hops leave the similarity unmeasured (None)."""
    by_prompt = {row[0]: row for row in rows}
    out = []
    for prompt, kept, method, similarity in rows:
        seen = {prompt}
        while kept in by_prompt and kept not in seen:
            seen.add(kept)
            _, kept, next_method, next_similarity = by_prompt[kept]
            if next_method == "exact":
                continue
            similarity = next_similarity if method == "exact" else None
            method = next_method
        out.append((prompt, kept, method, similarity))
    return out


def run_dedup(
    lake: Lake, settings: DedupSettings, run_id: str, shards: ShardMapper | None = None
) -> DedupReport:
    """`shards` runs signing and verification shards (default: local worker processes)."""
    report = DedupReport(run_id=run_id, params_key=params_key(settings))
    report.pool_before = store.pool_size(lake, report.params_key)
    at_most_pending = lake.count("prompts") - report.pool_before
    if shards is None and settings.minhash and _workers(settings, at_most_pending) > 1:
        warm_up(("tasks.dedup.preload",))  # worker start-up overlaps with ranking the pending prompts
    if settings.minhash and at_most_pending > 0:
        warm_up_in_background()  # loading the compiled verifier overlaps with ranking and signing
        if settings.answer_aware:
            AnswerCheck.warm_up_in_background()
    with _timed(report, "rank"):
        exact, survivors = _rank(lake, settings, report)
    if report.considered == 0:
        return report
    rows = list(zip(exact.column("prompt_id").to_pylist(), exact.column("exact_of").to_pylist(),
                    ["exact"] * exact.num_rows, [1.0] * exact.num_rows))
    with _mapper(shards, settings, survivors.num_rows) as workers:
        with _timed(report, "sign"):
            pending = _sign(lake, settings, survivors, workers)
        report.no_shingles = int((~pending.has_shingles).sum()) if settings.minhash else 0
        alive = np.ones(len(pending), bool)
        if settings.minhash:
            with _timed(report, "candidates_and_verify"):
                drops, pool_ids = _near_duplicates(lake, settings, pending, report)
            dropped = _names(pending, pool_ids, [d.dropped for d in drops])
            kept = _names(pending, pool_ids, [d.kept for d in drops])
            rows += [(p, k, "minhash", d.similarity) for p, k, d in zip(dropped, kept, drops)]
            alive[[d.dropped for d in drops]] = False
    embeddings = None
    if settings.embedding.enabled:
        with _timed(report, "embedding"):
            semantic, embeddings = semantic_duplicates(
                lake, settings, pending, np.flatnonzero(alive), report, run_id
            )
        rows += [(pending.prompt_id(i), kept, "embedding", cosine) for i, kept, cosine in semantic]
        alive[[i for i, _, _ in semantic]] = False
    rows = _point_at_kept(rows)
    report.dropped.update(method for _, _, method, _ in rows)
    report.kept = int(alive.sum())
    with _timed(report, "write"):
        report.written = store.write_run(
            lake, _duplicate_rows(rows, run_id),
            _signature_rows(pending, np.flatnonzero(alive), report.params_key, run_id), embeddings,
        )
    return report


READS = ("prompts",)
WRITES = ("duplicates", "dedup_signatures", "dedup_embeddings")


def run(ctx: StageContext, settings: DedupSettings) -> DedupReport:
    return run_dedup(ctx.lake, settings, ctx.run_id, ctx.shards)


def params(settings: DedupSettings, _report: DedupReport) -> dict:
    return {"settings": settings.model_dump()}


def summary_rows(report: DedupReport) -> list[dict]:
    dropped = report.totals()["dropped"]
    return [{
        "considered": report.considered, "kept": report.kept, **{f"dropped_{m}": n for m, n in dropped.items()},
        "pool_before": report.pool_before, "candidate_pairs": report.candidate_pairs,
        "verified_pairs": report.verified_pairs,
        "rejected": ", ".join(f"{k}={v}" for k, v in sorted(report.rejected.items())),
    }]


def summarize(report: DedupReport) -> dict:
    return {"totals": report.totals(), "summary": summary_rows(report)}
