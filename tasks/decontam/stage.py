"""Tasks layer (decontam): the decontaminate stage, `prompts` in, `contamination` out.

Checks the prompts that have no `duplicates` row and were not checked yet under the same
check key (hash of the benchmark set and the semantic settings) against every benchmark item,
chunk by chunk (`batch_size` prompts, in prompt_id order): n-grams and short items, MinHash,
siblings, embeddings on a bounded shortlist (`tasks.decontam.check`), then the optional LLM
judge on borderline pairs. Each chunk is committed in its own transaction (its rows and its
`decontam_checked` rows), so a killed run loses only the chunk in progress and a rerun goes on
from there; a rerun with nothing pending writes nothing. Chunks go through `ctx.shards` when
a flow gives one (Dask), else run in this process; a chunk's result depends on the chunk
alone, so both give the same rows. Progress is logged per chunk (`teachable.decontam`). The
judge asks through `LLMClient`, whose call log becomes `llm_calls` rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from schemas.decontam import (
    NON_SEMANTIC_FIELDS,
    DecontamAllowlist,
    DecontamChecked,
    DecontamEmbedding,
    DecontamReview,
    DecontamSettings,
    judge_key_fields,
)
from schemas.records import BenchmarkItem, Contamination
from tasks.decontam import store
from tasks.decontam.check import ChunkResult, check_chunk
from tasks.decontam.embed import vector_model
from tasks.decontam.loading import BenchmarkItem as Item
from tasks.decontam.loading import load_benchmarks
from tasks.decontam.ngrams import Hit
from tasks.embeddings import resolve_dtype
from tasks.decontam.report import DecontamReport
from tasks.progress import progress
from tasks.stage import StageContext
from warehouse.lake import Lake

if TYPE_CHECKING:
    from tasks.llm.client import EngineFactory
    from tasks.shards import ShardMapper

ALGORITHM = "decontam-3"  # bump when a change alters verdicts: every prompt is checked again
log = logging.getLogger("teachable.decontam")


def check_key(items: list[Item], settings: DecontamSettings) -> str:
    """Hash of what decides verdicts: algorithm, semantic settings, benchmark item texts."""
    digest = hashlib.blake2b(digest_size=8)
    semantic = {**settings.model_dump(exclude=set(NON_SEMANTIC_FIELDS)), **judge_key_fields(settings)}
    # The precision "auto" chose on this machine decides cosines, so it is what the key holds.
    semantic["embedding_dtype"] = resolve_dtype(settings.embedding_dtype)
    digest.update(json.dumps({"algorithm": ALGORITHM, "settings": semantic}, sort_keys=True).encode())
    for item in sorted(items, key=lambda i: (i.benchmark, i.item_id)):
        digest.update(f"{item.benchmark}\x1f{item.item_id}\x1f{item.text_hash}\x1e".encode())
    return digest.hexdigest()


class InProcess:
    """The default shard mapper: each chunk in this process, one after the other (lazily, so a
    chunk's arguments see what earlier chunks stored, e.g. new item vectors)."""

    def map(self, fn: Callable[..., Any], items: Iterable[tuple[Any, tuple]]) -> Iterator[tuple[Any, Any]]:
        for tag, args in items:
            yield tag, fn(*args)


class Judge:
    """Layer 5 across chunks: the best borderline pairs of prompts no layer flagged, at most
    `judge_max_pairs` per run, through one `LLMClient` (cached, limited, retried)."""

    def __init__(self, settings: DecontamSettings, cache_path: Path | None, run_id: str,
                 factory: EngineFactory | None):
        from tasks.llm.client import LLMClient

        if cache_path is None:
            raise ValueError("the decontaminate judge needs cache_path (the home's cache/llm.sqlite)")
        self.settings, self.left, self.calls = settings, settings.judge_max_pairs, 0
        self.client = LLMClient(settings.judge, cache_path, run_id=run_id, stage="decontaminate", factory=factory)

    def __call__(self, result: ChunkResult, texts: list[str], items: list[Item]) -> dict:
        from tasks.decontam.judge import ask

        flagged = result.flagged()
        pairs: dict[tuple[int, int], tuple[Hit, str]] = {}
        for hit, layer in sorted(result.reviews, key=lambda r: -r[0].score):
            if hit.doc not in flagged and not (layer == "sibling" and self.settings.sibling_policy == "keep"):
                pairs.setdefault((hit.doc, hit.item), (hit, layer))
        chosen = list(pairs.items())[: max(self.left, 0)]
        self.left -= len(chosen)
        results = ask(self.client, [(texts[doc], items[item].text) for (doc, item), _ in chosen])
        verdicts = {}
        for ((doc, item), (hit, layer)), answer in zip(chosen, results):
            verdicts[(doc, item)] = (answer.verdict, answer.reply)
            if answer.verdict == "contaminated":
                result.hits.append(Hit(doc, item, "llm_judge", hit.score,
                                       f"judge {self.settings.judge.model}: YES on {layer} pair ({hit.evidence})"))
        return verdicts

    def flush(self, lake: Lake) -> None:
        self.calls += self.client.flush(lake)

    def close(self) -> None:
        self.client.close()


def chunk_args(key: str, items: list[Item], settings: DecontamSettings, allowed: frozenset[str],
               texts: pa.Array, answers: pa.Array, vectors: dict) -> Iterator[tuple[int, tuple]]:
    """(start, check_chunk arguments) per chunk of `batch_size` texts."""
    for start in range(0, len(texts), settings.batch_size):
        stop = min(start + settings.batch_size, len(texts))
        yield start, (key, items, settings, allowed, texts[start:stop].to_pylist(),
                      answers[start:stop].to_pylist(), vectors)


def run_decontam(lake: Lake, settings: DecontamSettings, run_id: str, *, cache_path: Path | None = None,
                 factory: EngineFactory | None = None, shards: ShardMapper | None = None) -> DecontamReport:
    """`cache_path`: the LLM response cache (`<home>/cache/llm.sqlite`); needed when the judge is on."""
    started = time.perf_counter()
    loaded = load_benchmarks(settings.benchmarks)
    key = check_key(loaded.items, settings)
    report = DecontamReport(run_id, key, loaded.counts(), dict(loaded.skipped), benchmark_files=loaded.files())
    pending = store.pending_prompts(lake, key)
    report.already_checked = store.checked_count(lake, key)
    with lake.transaction():
        report.rows["benchmark_items"] = _write_items(lake, loaded.items, run_id)
    report.seconds["load"] = round(time.perf_counter() - started, 3)
    if pending.num_rows:
        log.info("decontaminate: %d prompts to check against %d benchmark items, chunks of %d",
                 pending.num_rows, len(loaded.items), settings.batch_size)
        _chunks(lake, settings, run_id, key, loaded.items, pending, report, shards, cache_path, factory)
    report.hits = store.hits_table(lake, run_id)
    return report


def _chunks(lake: Lake, settings: DecontamSettings, run_id: str, key: str, items: list[Item], pending: pa.Table,
            report: DecontamReport, shards: ShardMapper | None, cache_path: Path | None,
            factory: EngineFactory | None) -> None:
    vectors = store.cached_vectors(lake, vector_model(settings)) if settings.embedding else {}
    judge = Judge(settings, cache_path, run_id, factory) if settings.judge is not None else None
    ids, texts = pending.column("prompt_id").to_pylist(), pending.column("problem")
    work = chunk_args(key, items, settings, store.stored_allowlist(lake, key), texts, pending.column("answer"), vectors)
    sink, began = progress(), time.perf_counter()
    sink.start("decontaminate", len(ids))
    seconds: Counter = Counter()
    try:
        for start, result in (shards or InProcess()).map(check_chunk, work):
            chunk_ids = ids[start:start + settings.batch_size]
            verdicts = judge(result, texts[start:start + len(chunk_ids)].to_pylist(), items) if judge else {}
            written = time.perf_counter()
            with lake.transaction():
                rows = _write(lake, result, chunk_ids, items, key, run_id, settings, verdicts, vectors)
            if judge:
                judge.flush(lake)
            seconds.update(result.seconds)
            seconds["write"] += time.perf_counter() - written
            _account(report, result, rows, verdicts, items)
            done = start + len(chunk_ids)
            sink.update(done)
            rate = done / max(time.perf_counter() - began, 1e-9)
            log.info("decontaminate: committed %d/%d prompts (%.0f/s), %d contaminated so far",
                     done, len(ids), rate, report.contaminated)
    finally:
        sink.finish()
        if judge:
            judge.close()
            if judge.calls:
                report.rows["llm_calls"] = judge.calls
    report.seconds.update({k: round(v, 3) for k, v in seconds.items()})


def _account(report: DecontamReport, result: ChunkResult, rows: dict[str, int], verdicts: dict,
             items: list[Item]) -> None:
    report.checked += rows.get("decontam_checked", 0)
    report.contaminated += len(result.flagged())
    other = {h.doc for h in result.hits if h.method != "sibling"}
    report.sibling_only += len(result.flagged() - other)
    pairs = {(h.doc, h.item) for h in result.hits if h.method == "sibling"}
    pairs |= {(h.doc, h.item) for h, layer in result.reviews if layer == "sibling" and h.doc not in other}
    for benchmark, n in Counter(items[i].benchmark for _, i in pairs).items():
        report.siblings[benchmark] = report.siblings.get(benchmark, 0) + n
    report.embedded += result.embedded
    report.shortlist_cut += result.shortlist_cut
    for table, n in rows.items():
        report.rows[table] = report.rows.get(table, 0) + n
    report.reviews = report.rows.get("decontam_reviews", 0)
    report.judged = dict(Counter(report.judged) + Counter(v for v, _ in verdicts.values()))
    report.allowlist = dict(Counter(report.allowlist) + Counter(reason for reason, _ in result.allowlist.values()))


def _write_items(lake: Lake, items: list[Item], run_id: str) -> int:
    return lake.insert_records([
        BenchmarkItem(benchmark=i.benchmark, benchmark_item=i.item_id, problem=i.problem, answer=i.answer,
                      run_id=run_id) for i in items])


def best_hits(hits: list[Hit]) -> list[Hit]:
    """One hit per (prompt, item, method): the best evidence."""
    best: dict[tuple, Hit] = {}
    for hit in hits:
        k = (hit.doc, hit.item, hit.method)
        if k not in best or hit.score > best[k].score:
            best[k] = hit
    return list(best.values())


def review_rows(result: ChunkResult, ids: list[str], items: list[Item], key: str, run_id: str,
                settings: DecontamSettings, verdicts: dict) -> list[DecontamReview]:
    """Borderline pairs of prompts no layer flagged (the judge's verdicts on them, if asked)."""
    by_layers = {h.doc for h in result.hits if h.method != "llm_judge"}
    reviews: dict[tuple, DecontamReview] = {}
    for hit, layer in result.reviews:
        k = (hit.doc, hit.item, layer)
        if hit.doc in by_layers or (k in reviews and reviews[k].score >= hit.score):
            continue
        verdict, reply = verdicts.get((hit.doc, hit.item), (None, None))
        if verdict is None and layer == "sibling" and settings.sibling_policy == "keep":
            verdict = "kept"
        reviews[k] = DecontamReview(
            check_key=key, prompt_id=ids[hit.doc], benchmark=items[hit.item].benchmark,
            benchmark_item=items[hit.item].item_id, layer=layer, score=hit.score, evidence=hit.evidence,
            verdict=verdict, judge_model=settings.judge.model if reply is not None else None, judge_reply=reply,
            run_id=run_id)
    return list(reviews.values())


def _write(lake: Lake, result: ChunkResult, ids: list[str], items: list[Item], key: str, run_id: str,
           settings: DecontamSettings, verdicts: dict, vectors: dict) -> dict[str, int]:
    rows = {"contamination": lake.insert_records([
        Contamination(prompt_id=ids[h.doc], benchmark=items[h.item].benchmark, benchmark_item=items[h.item].item_id,
                      method=h.method, score=h.score, evidence=h.evidence, run_id=run_id)
        for h in best_hits(result.hits)])}
    rows["decontam_reviews"] = lake.insert_records(review_rows(result, ids, items, key, run_id, settings, verdicts))
    rows["decontam_allowlist"] = lake.insert_records([
        DecontamAllowlist(check_key=key, ngram=text, reason=reason, count=count, run_id=run_id)
        for text, (reason, count) in result.allowlist.items()])
    fresh = {h: v for h, v in result.new_vectors.items() if h not in vectors}
    rows["decontam_embeddings"] = lake.insert_records([
        DecontamEmbedding(model=vector_model(settings), text_hash=h, vector=v.tolist(), run_id=run_id)
        for h, v in fresh.items()])
    vectors.update(fresh)
    flagged = result.flagged()
    checked = pa.table({
        "check_key": [key] * len(ids), "prompt_id": ids,
        "contaminated": [d in flagged for d in range(len(ids))], "run_id": [run_id] * len(ids)})
    rows["decontam_checked"] = lake.insert_new(DecontamChecked, checked)
    return rows


READS = ("prompts",)
WRITES = ("contamination", "benchmark_items", "decontam_checked", "decontam_reviews", "decontam_allowlist",
          "decontam_embeddings", "llm_calls")


def run(ctx: StageContext, settings: DecontamSettings) -> DecontamReport:
    return run_decontam(ctx.lake, settings, ctx.run_id, cache_path=ctx.cache_path, factory=ctx.make_engine,
                        shards=ctx.shards)


def params(settings: DecontamSettings, report: DecontamReport) -> dict:
    return {"settings": settings.model_dump(), "check_key": report.check_key}


def summarize(report: DecontamReport) -> dict:
    counts = {"checked": report.checked, "already_checked": report.already_checked,
              "contaminated": report.contaminated, "reviews": report.reviews, "judged": report.judged,
              "embedded": report.embedded, "shortlist_cut": report.shortlist_cut,
              "siblings": report.siblings, "rows": report.rows, "benchmarks": report.benchmarks}
    return {"check_key": report.check_key, "counts": counts, "hits": report.hits, "seconds": report.seconds}
