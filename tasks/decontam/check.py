"""Tasks layer (decontam): check one chunk of texts against the benchmark items, all layers.

`check_chunk` is the unit of work of the decontaminate stage and of the published-text
recheck: a module-level function of plain data (benchmark items, settings, texts, answers,
the benchmark item vectors known so far), so a `tasks.shards.ShardMapper` may run it in
another process or on a Dask worker, and its result depends on the chunk alone (local and
Dask runs give the same rows). The indexes over the benchmark items (`Checker`) are built once
per process and check key, then reused by every chunk. Layers: n-grams and short items,
MinHash, siblings (the item's text with other numbers), embeddings on a bounded shortlist;
every candidate passes the agreement check of `mathsig` or becomes a borderline pair.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from schemas.decontam import DecontamSettings
from tasks.decontam import mathsig
from tasks.decontam.encode import BatchView, Encoder
from tasks.decontam.loading import BenchmarkItem
from tasks.decontam.minhash import MinHashIndex
from tasks.decontam.ngrams import Hit, NgramIndex, view_sizes
from tasks.decontam.notation import plain
from tasks.decontam.siblings import SiblingIndex
from tasks.decontam.wrappers import strip_wrappers
from tasks.text import normalize_text, text_hash


def prepare(text: str) -> str:
    """What every layer compares: wrappers stripped, notation in its plain form."""
    return plain(strip_wrappers(text))


def item_hash(item: BenchmarkItem) -> str:
    """Key of an item's cached vector: the hash of the text the model saw."""
    return text_hash(normalize_text(prepare(item.text)))


class LazySignatures:
    """`mathsig.Signature` of text i on first use: most texts never meet a candidate pair."""

    def __init__(self, texts: list[str], answers: list[str | None]):
        self.texts, self.answers, self.done = texts, answers, {}

    def __getitem__(self, i: int) -> mathsig.Signature:
        if i not in self.done:
            self.done[i] = mathsig.Signature.of(self.texts[i], self.answers[i])
        return self.done[i]


@dataclass
class ChunkResult:
    """What one chunk found; `doc` indices are positions in the chunk."""

    hits: list[Hit] = field(default_factory=list)
    reviews: list[tuple[Hit, str]] = field(default_factory=list)  # (pair, layer)
    allowlist: dict[str, tuple[str, int]] = field(default_factory=dict)
    new_vectors: dict[str, np.ndarray] = field(default_factory=dict)  # item hash -> vector
    embedded: int = 0
    shortlist_cut: int = 0  # agreeing candidates left out by the embedding bound
    seconds: Counter = field(default_factory=Counter)

    def flagged(self) -> set[int]:
        return {h.doc for h in self.hits}


class Checker:
    """The benchmark side of every layer, built once per process and check key."""

    def __init__(self, items: list[BenchmarkItem], settings: DecontamSettings, allowed: frozenset[str]):
        self.items, self.settings = items, settings
        self.texts = [prepare(i.text) for i in items]
        self.sigs = [mathsig.Signature.of(t, i.answer) for t, i in zip(self.texts, items)]
        self.encoder = Encoder(self.texts)
        self.item_batch = self.encoder.encode(self.texts)
        view = BatchView(self.item_batch, self.encoder.vocab_size, view_sizes(settings))
        s = settings
        self.ngram = NgramIndex(self.encoder, view, s, set(allowed)) if s.ngram or s.short_items else None
        self.minhash = MinHashIndex(view, s) if s.minhash else None
        self.siblings = SiblingIndex(self.item_batch, s) if s.siblings else None
        self.lock = threading.Lock()  # the n-gram index accumulates per scan: one chunk at a time
        self.embedding = None
        if s.embedding:
            from tasks.decontam.embed import EmbeddingLayer

            self.embedding = EmbeddingLayer(self.item_batch, self.encoder.vocab_size, self.sigs, s)


_CHECKERS: dict[tuple[str, frozenset[str]], Checker] = {}
_BUILDING = threading.Lock()


def checker(key: str, items: list[BenchmarkItem], settings: DecontamSettings, allowed: frozenset[str]) -> Checker:
    with _BUILDING:  # threads of one process share one Checker
        if (key, allowed) not in _CHECKERS:
            if len(_CHECKERS) >= 2:  # a prompt check and a recheck at most
                _CHECKERS.clear()
            _CHECKERS[key, allowed] = Checker(items, settings, allowed)
        return _CHECKERS[key, allowed]


def check_chunk(key: str, items: list[BenchmarkItem], settings: DecontamSettings, allowed: frozenset[str],
                raw_texts: list[str], answers: list[str | None], vectors: dict[str, np.ndarray]) -> ChunkResult:
    """Every layer over one chunk of texts (see the module doc)."""
    started = time.perf_counter()
    c = checker(key, items, settings, allowed)
    out = ChunkResult()
    out.seconds["index"] += time.perf_counter() - started
    started = time.perf_counter()
    texts = [prepare(t) for t in raw_texts]
    sigs = LazySignatures(texts, answers)
    batch = c.encoder.encode(texts)
    view = BatchView(batch, c.encoder.vocab_size, view_sizes(settings))
    out.seconds["encode"] += time.perf_counter() - started
    found: list[Hit] = []
    if c.ngram is not None:
        started = time.perf_counter()
        with c.lock:
            c.ngram.scan(view, 0)
            hits, reviews, out.allowlist = c.ngram.finalize()
        found += hits
        out.reviews += [(hit, "ngram") for hit in reviews]
        out.seconds["ngram"] += time.perf_counter() - started
    if c.minhash is not None:
        started = time.perf_counter()
        found += c.minhash.scan(view, 0)
        out.seconds["minhash"] += time.perf_counter() - started
    started = time.perf_counter()
    _verify(c, texts, sigs, found, out)
    out.seconds["verify"] += time.perf_counter() - started
    if c.siblings is not None:
        started = time.perf_counter()
        _siblings(c, texts, sigs, batch, out)
        out.seconds["siblings"] += time.perf_counter() - started
    if c.embedding is not None:
        started = time.perf_counter()
        _embed(c, texts, sigs, batch, vectors, out)
        out.seconds["embedding"] += time.perf_counter() - started
    return out


def _verify(c: Checker, texts: list[str], sigs: list[mathsig.Signature], found: list[Hit], out: ChunkResult) -> None:
    """Keep the hits whose mathematics agrees; the rest become borderline reviews."""
    s = c.settings
    for hit in found:
        why = mathsig.objection(sigs[hit.doc], c.sigs[hit.item], s.numbers_agreement, s.answer_veto,
                                lambda hit=hit: mathsig.contains(texts[hit.doc], c.texts[hit.item]))
        if why is None:
            out.hits.append(hit)
        else:
            layer = "minhash" if hit.method == "minhash" else "ngram"
            out.reviews.append((Hit(hit.doc, hit.item, hit.method, hit.score, f"{hit.evidence}; {why}"), layer))


def _siblings(c: Checker, texts: list[str], sigs: list[mathsig.Signature], batch, out: ChunkResult) -> None:
    """Texts that are an item's with other numbers: a sibling, whatever other layers said of the
    pair (a copy keeps its numbers); texts flagged for other items stay as they are."""
    found = [(d, i) for d, i in c.siblings.find(batch) if _numbers(batch, d) != _numbers(c.item_batch, i)]
    pairs = set(found)
    out.hits = [h for h in out.hits if (h.doc, h.item) not in pairs]
    flagged = out.flagged()
    for doc, item in found:
        if doc in flagged:
            continue
        mine, theirs = sigs[doc].math - c.sigs[item].math, c.sigs[item].math - sigs[doc].math
        changed = ", ".join(f"{a} for {b}" for a, b in zip(sorted(theirs), sorted(mine))) or "none"
        hit = Hit(doc, item, "sibling", 1.0, f"the item's text with other numbers ({changed})")
        if c.settings.sibling_policy == "drop":
            out.hits.append(hit)
        else:
            out.reviews.append((hit, "sibling"))


def _numbers(batch, i: int) -> list[int]:
    """The number tokens of text i (figures included: other coordinates make another problem)."""
    lo, hi = batch.offsets[i], batch.offsets[i + 1]
    return batch.ids[lo:hi][batch.numeric[lo:hi]].tolist()


def _embed(c: Checker, texts: list[str], sigs: list[mathsig.Signature], batch, vectors: dict[str, np.ndarray],
           out: ChunkResult) -> None:
    """Layer 4 on a bounded shortlist of the prompts no earlier layer flagged."""
    from tasks.decontam.embed import encode

    flagged = out.flagged() | {h.doc for h, layer in out.reviews if layer == "sibling"}
    candidates = [cand for cand in c.embedding.candidates(batch, sigs) if cand.doc not in flagged]
    shortlist, out.shortlist_cut = c.embedding.shortlist(candidates, len(texts))

    def item_vectors(indices: list[int]) -> np.ndarray:
        hashes = [item_hash(c.items[i]) for i in indices]
        missing = sorted({h: i for h, i in zip(hashes, indices) if h not in vectors and h not in out.new_vectors}.items())
        if missing:
            for (h, _), vector in zip(missing, encode([c.texts[i] for _, i in missing], c.settings)):
                out.new_vectors[h] = vector
        return np.stack([vectors[h] if h in vectors else out.new_vectors[h] for h in hashes])

    hits, reviews, out.embedded = c.embedding.score(shortlist, texts, item_vectors)
    out.hits += hits
    out.reviews += [(hit, "embedding") for hit in reviews]
