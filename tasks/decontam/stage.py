"""Tasks layer (decontam): the decontaminate stage, `prompts` in, `contamination` out.

Checks the prompts that have no `duplicates` row and were not checked yet under the same
check key (hash of the benchmark set and the semantic settings) against every benchmark item:
n-grams and short items, MinHash, embeddings, then the optional LLM judge on borderline pairs.
Every candidate a layer finds must pass the agreement check of `mathsig` (numbers, answers)
to become a `contamination` row; the others are kept as `decontam_reviews` rows. One run is
one transaction (one DuckLake snapshot); a rerun finds nothing pending and writes nothing. The
judge asks through `LLMClient` (response cache below the home's cache/), whose call log becomes
`llm_calls` rows in a snapshot of their own, as in every LLM stage.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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
from tasks.decontam import mathsig
from tasks.decontam.encode import BatchView, Encoder
from tasks.decontam.loading import BenchmarkItem as Item
from tasks.decontam.loading import load_benchmarks
from tasks.decontam.minhash import MinHashIndex
from tasks.decontam.ngrams import Hit, NgramIndex, view_sizes
from tasks.decontam.report import DecontamReport, hits_table
from tasks.decontam.wrappers import strip_wrappers
from tasks.progress import progress
from warehouse.lake import Lake

ALGORITHM = "decontam-1"  # bump when a change alters verdicts: every prompt is checked again


def check_key(items: list[Item], settings: DecontamSettings) -> str:
    """Hash of what decides verdicts: algorithm, semantic settings, benchmark item texts."""
    digest = hashlib.blake2b(digest_size=8)
    semantic = {**settings.model_dump(exclude=set(NON_SEMANTIC_FIELDS)), **judge_key_fields(settings)}
    digest.update(json.dumps({"algorithm": ALGORITHM, "settings": semantic}, sort_keys=True).encode())
    for item in sorted(items, key=lambda i: (i.benchmark, i.item_id)):
        digest.update(f"{item.benchmark}\x1f{item.item_id}\x1f{item.text_hash}\x1e".encode())
    return digest.hexdigest()


def pending_prompts(lake: Lake, key: str) -> pa.Table:
    """Prompts without a duplicates row, not yet checked under `key`."""
    return lake.query(
        "SELECT p.prompt_id, p.problem, p.answer FROM prompts AS p "
        "WHERE NOT EXISTS (SELECT 1 FROM duplicates AS d WHERE d.prompt_id = p.prompt_id) "
        "AND NOT EXISTS (SELECT 1 FROM decontam_checked AS c "
        "                WHERE c.check_key = ? AND c.prompt_id = p.prompt_id)",
        [key],
    )


@dataclass
class _Run:
    """Everything one run accumulates before the single write."""

    settings: DecontamSettings
    items: list[Item]
    texts: list[str]
    answers: list[str | None]
    hits: list[Hit] = field(default_factory=list)
    reviews: list[tuple[Hit, str]] = field(default_factory=list)  # (pair, layer)
    seconds: Counter = field(default_factory=Counter)
    allowlist: dict[str, tuple[str, int]] = field(default_factory=dict)  # n-gram -> (reason, count)
    _sigs: dict[int, mathsig.Signature] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.item_sigs = [mathsig.Signature.of(i.text, i.answer) for i in self.items]

    def sig(self, doc: int) -> mathsig.Signature:
        if doc not in self._sigs:
            self._sigs[doc] = mathsig.Signature.of(self.texts[doc], self.answers[doc])
        return self._sigs[doc]

    def verify(self, found: list[Hit], layer: str) -> None:
        """Keep the hits whose mathematics agrees; the rest become borderline reviews."""
        s = self.settings
        for hit in found:
            why = mathsig.objection(
                self.sig(hit.doc), self.item_sigs[hit.item], s.numbers_agreement, s.answer_veto,
                lambda hit=hit: mathsig.contains(self.texts[hit.doc], self.items[hit.item].text))
            if why is None:
                self.hits.append(hit)
            else:
                self.reviews.append((Hit(hit.doc, hit.item, hit.method, hit.score, f"{hit.evidence}; {why}"), layer))

    def timed(self, step: str, started: float) -> None:
        self.seconds[step] += time.perf_counter() - started

    def flagged(self) -> set[int]:
        return {h.doc for h in self.hits}


def _views(run: _Run, encoder: Encoder):
    """(base, batch view, seconds spent) per batch of `batch_size` prompts.

    Sequential on purpose: a thread that tokenised the next batch during the scan measured
    slower on the shared 2-core machine (tokenising holds the GIL)."""
    s = run.settings
    for base in range(0, len(run.texts), s.batch_size):
        started = time.perf_counter()
        batch = encoder.encode(run.texts[base:base + s.batch_size])
        view = BatchView(batch, encoder.vocab_size, view_sizes(s))
        yield base, view, time.perf_counter() - started


def _scan(run: _Run, encoder: Encoder, ngram: NgramIndex | None, minhash: MinHashIndex | None) -> None:
    """Layers 1-3 over all pending prompts, batch by batch."""
    sink = progress()
    sink.start("decontaminate: n-grams, MinHash", len(run.texts))
    found_minhash: list[Hit] = []
    for base, view, seconds in _views(run, encoder):
        run.seconds["encode"] += seconds
        if ngram is not None:
            started = time.perf_counter()
            ngram.scan(view, base)
            run.timed("ngram", started)
        if minhash is not None:
            started = time.perf_counter()
            found_minhash += minhash.scan(view, base)
            run.timed("minhash", started)
        sink.update(base + len(view.batch.lengths))
    sink.finish()
    started = time.perf_counter()
    if ngram is not None:
        hits, reviews, allowlist = ngram.finalize()
        run.allowlist = allowlist
        run.verify(hits, "ngram")
        run.reviews += [(hit, "ngram") for hit in reviews]
    run.verify(found_minhash, "minhash")
    run.timed("verify", started)


def _embed(run: _Run, lake: Lake, encoder: Encoder, item_batch, new_vectors: list) -> int:
    """Layer 4 on the prompts no earlier layer flagged; returns how many the model saw."""
    from tasks.decontam.embed import EmbeddingLayer, encode

    started = time.perf_counter()
    s = run.settings
    layer = EmbeddingLayer(item_batch, encoder.vocab_size, run.item_sigs, s)
    flagged = run.flagged()
    docs = [d for d in range(len(run.texts)) if d not in flagged]
    batch = encoder.encode([run.texts[d] for d in docs])
    candidates = layer.candidates(batch, [run.sig(d) for d in docs])
    for c in candidates:
        c.doc = docs[c.doc]

    def item_vectors(indices: list[int]) -> np.ndarray:
        cached = _cached_vectors(lake, s.embedding_model)
        hashes = [run.items[i].text_hash for i in indices]
        missing = sorted({(h, i) for h, i in zip(hashes, indices) if h not in cached})
        if missing:
            vectors = encode([run.items[i].text for _, i in missing], s)
            for (h, _), vector in zip(missing, vectors):
                cached[h] = vector
                new_vectors.append({"model": s.embedding_model, "text_hash": h, "vector": vector.tolist()})
        return np.stack([cached[h] for h in hashes]) if hashes else np.zeros((0, 384), np.float32)

    hits, reviews, embedded = layer.score(candidates, run.texts, item_vectors)
    run.hits += hits
    run.reviews += [(hit, "embedding") for hit in reviews]
    run.timed("embedding", started)
    return embedded


def _cached_vectors(lake: Lake, model: str) -> dict[str, np.ndarray]:
    table = lake.query("SELECT text_hash, vector FROM decontam_embeddings WHERE model = ?", [model])
    return {h: np.asarray(v, np.float32) for h, v in zip(table.column(0).to_pylist(), table.column(1).to_pylist())}


def _judge(run: _Run, lake: Lake, run_id: str,
           cache_path: Path | None) -> tuple[dict[tuple[int, int], tuple[str, str]], int]:
    """Layer 5: verdicts on the best borderline pairs of prompts no layer flagged, one
    request per (prompt, item) whichever layers found the pair, through `LLMClient` (cached,
    limited, retried); returns the verdicts and how many `llm_calls` rows were flushed."""
    from tasks.decontam.judge import ask
    from tasks.llm.client import LLMClient

    if cache_path is None:
        raise ValueError("the decontaminate judge needs cache_path (the home's cache/llm.sqlite)")
    started = time.perf_counter()
    engine = run.settings.judge
    flagged = run.flagged()
    pairs: dict[tuple[int, int], tuple[Hit, str]] = {}
    for hit, layer in sorted(run.reviews, key=lambda r: -r[0].score):
        if hit.doc not in flagged:
            pairs.setdefault((hit.doc, hit.item), (hit, layer))
    chosen = list(pairs.items())[: run.settings.judge_max_pairs]
    client = LLMClient(engine, cache_path, run_id=run_id, stage="decontaminate")
    try:
        results = ask(client, [(run.texts[doc], run.items[item].text) for (doc, item), _ in chosen])
    finally:
        try:
            flushed = client.flush(lake)  # the calls' log, even when the run fails after sending
        finally:
            client.close()
    verdicts = {}
    for ((doc, item), (hit, layer)), result in zip(chosen, results):
        verdicts[(doc, item)] = (result.verdict, result.reply)
        if result.verdict == "contaminated":
            run.hits.append(Hit(doc, item, "llm_judge", hit.score,
                                f"judge {engine.model}: YES on {layer} pair ({hit.evidence})"))
    run.timed("judge", started)
    return verdicts, flushed


def run_decontam(lake: Lake, settings: DecontamSettings, run_id: str, *,
                 cache_path: Path | None = None) -> DecontamReport:
    """`cache_path`: the LLM response cache (`<home>/cache/llm.sqlite`); needed when the judge is on."""
    started = time.perf_counter()
    loaded = load_benchmarks(settings.benchmarks)
    key = check_key(loaded.items, settings)
    report = DecontamReport(run_id, key, loaded.counts(), dict(loaded.skipped))
    pending = pending_prompts(lake, key)
    report.already_checked = int(lake.query(
        "SELECT count(*) FROM decontam_checked WHERE check_key = ?", [key]).column(0)[0].as_py())
    report.seconds["load"] = round(time.perf_counter() - started, 3)
    if pending.num_rows == 0:
        with lake.transaction():
            report.rows["benchmark_items"] = _write_items(lake, loaded.items, run_id)
        report.hits = hits_table(lake, run_id)
        return report
    run = _Run(settings, loaded.items, [strip_wrappers(p) for p in pending.column("problem").to_pylist()],
               pending.column("answer").to_pylist())
    report.checked = len(run.texts)
    started = time.perf_counter()
    encoder = Encoder([i.text for i in run.items])
    item_batch = encoder.encode([i.text for i in run.items])
    items_view = BatchView(item_batch, encoder.vocab_size, view_sizes(settings))
    allowed = _stored_allowlist(lake, key)
    ngram = NgramIndex(encoder, items_view, settings, allowed) if settings.ngram or settings.short_items else None
    minhash = MinHashIndex(items_view, settings) if settings.minhash else None
    run.timed("index", started)
    _scan(run, encoder, ngram, minhash)
    new_vectors: list[dict] = []
    if settings.embedding:
        report.embedded = _embed(run, lake, encoder, item_batch, new_vectors)
    verdicts, calls = _judge(run, lake, run_id, cache_path) if settings.judge is not None else ({}, 0)
    started = time.perf_counter()
    with lake.transaction():
        report.rows = _write(lake, run, pending.column("prompt_id").to_pylist(), key, run_id,
                             verdicts, new_vectors)
    if calls:
        report.rows["llm_calls"] = calls
    run.timed("write", started)
    report.contaminated = len(run.flagged())
    report.reviews = report.rows.get("decontam_reviews", 0)
    report.judged = dict(Counter(v for v, _ in verdicts.values()))
    report.allowlist = dict(Counter(reason for reason, _ in run.allowlist.values()))
    report.seconds.update({k: round(v, 3) for k, v in run.seconds.items()})
    report.hits = hits_table(lake, run_id)
    return report


def _stored_allowlist(lake: Lake, key: str) -> set[str]:
    table = lake.query("SELECT ngram FROM decontam_allowlist WHERE check_key = ? AND reason = 'pool'", [key])
    return set(table.column(0).to_pylist())


def _write_items(lake: Lake, items: list[Item], run_id: str) -> int:
    return lake.insert_records([
        BenchmarkItem(benchmark=i.benchmark, benchmark_item=i.item_id, problem=i.problem, answer=i.answer,
                      run_id=run_id) for i in items])


def _write(lake: Lake, run: _Run, prompt_ids: list[str], key: str, run_id: str, verdicts: dict,
           new_vectors: list[dict]) -> dict[str, int]:
    rows: dict[str, int] = {"benchmark_items": _write_items(lake, run.items, run_id)}
    best: dict[tuple, Hit] = {}
    for hit in run.hits:  # one row per (prompt, item, method): the best evidence
        k = (hit.doc, hit.item, hit.method)
        if k not in best or hit.score > best[k].score:
            best[k] = hit
    rows["contamination"] = lake.insert_records([
        Contamination(prompt_id=prompt_ids[h.doc], benchmark=run.items[h.item].benchmark,
                      benchmark_item=run.items[h.item].item_id, method=h.method, score=h.score,
                      evidence=h.evidence, run_id=run_id) for h in best.values()])
    flagged = run.flagged()
    # Borderline pairs matter for prompts no layer flagged; the judge's verdicts are kept too.
    by_layers = {h.doc for h in run.hits if h.method != "llm_judge"}
    reviews: dict[tuple, DecontamReview] = {}
    for hit, layer in run.reviews:
        k = (hit.doc, hit.item, layer)
        if hit.doc in by_layers or (k in reviews and reviews[k].score >= hit.score):
            continue
        verdict, reply = verdicts.get((hit.doc, hit.item), (None, None))
        reviews[k] = DecontamReview(
            check_key=key, prompt_id=prompt_ids[hit.doc], benchmark=run.items[hit.item].benchmark,
            benchmark_item=run.items[hit.item].item_id, layer=layer, score=hit.score, evidence=hit.evidence,
            verdict=verdict, judge_model=run.settings.judge.model if verdict else None, judge_reply=reply,
            run_id=run_id)
    rows["decontam_reviews"] = lake.insert_records(list(reviews.values()))
    rows["decontam_allowlist"] = lake.insert_records([
        DecontamAllowlist(check_key=key, ngram=text, reason=reason, count=count, run_id=run_id)
        for text, (reason, count) in run.allowlist.items()])
    if new_vectors:
        rows["decontam_embeddings"] = lake.insert_records(
            [DecontamEmbedding(**v, run_id=run_id) for v in new_vectors])
    checked = pa.table({
        "check_key": [key] * len(prompt_ids), "prompt_id": prompt_ids,
        "contaminated": [d in flagged for d in range(len(prompt_ids))], "run_id": [run_id] * len(prompt_ids)})
    rows["decontam_checked"] = lake.insert_new(DecontamChecked, checked)
    return rows

