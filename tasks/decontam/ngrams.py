"""Tasks layer (decontam): layers 1 and 2, n-gram overlap with benchmark items.

Layer 1 follows the Phi-4 report's hybrid rule: a prompt sharing any long n-gram (13) with a
benchmark item is a hit, unless that n-gram is boilerplate; otherwise the short-gram (7)
overlap ratio overlap / min(|prompt grams|, |item grams|) against the best item decides:
at or above `ratio_contaminated` a hit, at or above `ratio_partial` a borderline pair.
Boilerplate is found automatically: n-grams in `allowlist_min_items` benchmark items, and
long n-grams shared with `allowlist_min_prompts` prompts of a run that are not copies of the
item (overlap ratio below `ratio_contaminated`); a long-gram pair whose ratio is below
`ngram_min_ratio` (one shared n-gram in otherwise unrelated texts) is only borderline.
Layer 2 catches items too short to hold a long n-gram: the whole item inside a prompt that
is not much longer.
`scan` runs per batch (numpy, no per-token Python); `finalize` decides once all batches are in.
The numbers check of every hit is the stage's job (it needs the texts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from schemas.decontam import DecontamSettings
from tasks.decontam.encode import BatchView, Encoder, hash_at, rolling_hashes
from tasks.decontam.hashtable import HashTable

_POS_BITS = 24  # long-gram table values pack item << 24 | position (for the evidence text)
SHORT_PREFIX = 3  # short items are looked up by their first 3 tokens


@dataclass
class Hit:
    doc: int  # global index of the prompt in this run
    item: int  # index of the benchmark item
    method: str
    score: float
    evidence: str


def unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (a, b) pairs and how often each occurred."""
    if len(a) == 0:
        return a, b, np.zeros(0, np.int64)
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    start = np.concatenate(([True], (a[1:] != a[:-1]) | (b[1:] != b[:-1])))
    index = np.flatnonzero(start)
    return a[index], b[index], np.diff(np.append(index, len(a)))


def view_sizes(settings: DecontamSettings) -> list[int]:
    """The rolling-hash sizes the n-gram and MinHash layers read from a batch view."""
    return sorted({SHORT_PREFIX, settings.ratio_n, settings.ngram_n, settings.minhash_shingle})


def _grams(items: BatchView, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash, text index, start position in the text) of every n-gram inside a text."""
    starts = items.starts(n, known_only=False)
    docs = items.doc[starts]
    return items.hashes[n][starts], docs, starts - items.batch.offsets[docs]


@dataclass
class _Accumulated:
    long_doc: list = field(default_factory=list)
    long_hash: list = field(default_factory=list)
    pair_doc: list = field(default_factory=list)
    pair_item: list = field(default_factory=list)
    pair_overlap: list = field(default_factory=list)
    doc_grams: list = field(default_factory=list)
    short_doc: list = field(default_factory=list)
    short_item: list = field(default_factory=list)

    def cat(self, name: str, dtype) -> np.ndarray:
        parts = getattr(self, name)
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


class NgramIndex:
    """The benchmark items' n-grams; `scan` batches of prompts, then `finalize` once."""

    def __init__(self, encoder: Encoder, items: BatchView, settings: DecontamSettings,
                 allowed: set[str] | None = None):
        self.encoder, self.view, self.items, self.settings = encoder, items, items.batch, settings
        self.n, self.r = settings.ngram_n, settings.ratio_n
        self.boilerplate: dict[int, tuple[str, int]] = {}  # hash -> (n-gram, items holding it)
        self._build_long(allowed or set())
        self._build_ratio()
        self._build_short()
        self.acc = _Accumulated()

    # --- index ------------------------------------------------------------------------
    def _frequent(self, hashes: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distinct hashes, how many items hold each)."""
        distinct_h, _, _ = unique_pairs(hashes, docs)
        keys, counts = np.unique(distinct_h, return_counts=True)
        return keys, counts

    def _build_long(self, allowed: set[str]) -> None:
        hashes, docs, pos = _grams(self.view, self.n)
        keys, counts = self._frequent(hashes, docs)
        common = keys[counts >= self.settings.allowlist_min_items]
        example = {int(h): i for i, h in enumerate(hashes)}  # last occurrence is fine
        for h, c in zip(common, counts[counts >= self.settings.allowlist_min_items]):
            i = example[int(h)]
            start = self.items.offsets[docs[i]] + pos[i]
            self.boilerplate[int(h)] = (self.encoder.ngram_text(self.items.ids[start:start + self.n]), int(c))
        keep = ~np.isin(hashes, common)
        if allowed:  # boilerplate found in the pool by earlier runs under the same key
            keep &= ~np.isin(hashes, self.hash_texts(sorted(allowed)))
        self.long = HashTable(hashes[keep], (docs[keep] << _POS_BITS) | pos[keep])

    def _build_ratio(self) -> None:
        hashes, docs, _ = _grams(self.view, self.r)
        distinct_h, distinct_d, _ = unique_pairs(hashes, docs)
        n_items = len(self.items.offsets) - 1
        self.item_grams = np.bincount(distinct_d, minlength=n_items)
        keys, counts = np.unique(distinct_h, return_counts=True)
        common = keys[counts >= self.settings.allowlist_min_items]
        keep = ~np.isin(distinct_h, common)
        self.ratio = HashTable(distinct_h[keep], distinct_d[keep])

    def _build_short(self) -> None:
        """Items too short for a long n-gram: found by their first SHORT_PREFIX tokens, then
        compared whole (hash of all their tokens)."""
        lengths = self.items.lengths
        wanted = (lengths >= max(self.settings.short_min_tokens, SHORT_PREFIX)) & (lengths < self.n)
        self.short_items = np.flatnonzero(wanted) if self.settings.short_items else np.zeros(0, np.int64)
        starts = self.items.offsets[self.short_items]
        self.short_prefix = HashTable(self.view.hashes[SHORT_PREFIX][starts], self.short_items)
        self.short_hash = np.zeros(len(lengths), np.uint64)
        self.short_hash[self.short_items] = hash_at(self.view.mixed, starts, lengths[self.short_items])

    def hash_texts(self, texts: list[str]) -> np.ndarray:
        """Long-gram hashes of n-grams given as text (the stored allow-list)."""
        batch = self.encoder.encode(texts)
        hashes = rolling_hashes(batch.ids, [self.n])[self.n] if len(batch.ids) else np.zeros(0, np.uint64)
        return hashes[batch.offsets[:-1][batch.lengths == self.n]]

    # --- per batch --------------------------------------------------------------------
    def scan(self, view: BatchView, base: int) -> None:
        """Record this batch's n-gram hits (texts are numbered from `base`)."""
        if self.settings.ngram:
            starts = view.starts(self.n, known_only=True)
            q = view.hashes[self.n][starts]
            hit = self.long.contains(q)
            d, h, _ = unique_pairs(view.doc[starts[hit]] + base, q[hit])
            self.acc.long_doc.append(d)
            self.acc.long_hash.append(h)
            starts = view.starts(self.r, known_only=True)
            q = view.hashes[self.r][starts]
            hit = self.ratio.contains(q)
            d, h, _ = unique_pairs(view.doc[starts[hit]], q[hit])
            which, items = self.ratio.expand(h)
            pd, pi, overlap = unique_pairs(d[which] + base, items)
            self.acc.pair_doc.append(pd)
            self.acc.pair_item.append(pi)
            self.acc.pair_overlap.append(overlap)
        self.acc.doc_grams.append(np.maximum(view.batch.lengths - self.r + 1, 0))
        if len(self.short_items):
            self._scan_short(view, base)

    def _scan_short(self, view: BatchView, base: int) -> None:
        """Whole short items inside prompts with at most `short_max_extra_tokens` more tokens."""
        starts = view.starts(SHORT_PREFIX, known_only=True)
        q = view.hashes[SHORT_PREFIX][starts]
        hit = self.short_prefix.contains(q)
        which, items = self.short_prefix.expand(q[hit])
        where = starts[hit][which]
        size = self.items.lengths[items]
        doc = view.doc[where]
        fits = (view.room[where] >= size) & (view.batch.lengths[doc] - size <= self.settings.short_max_extra_tokens)
        fits[fits] = view.all_known(where[fits], size[fits])
        where, items, size, doc = where[fits], items[fits], size[fits], doc[fits]
        same = hash_at(view.mixed, where, size) == self.short_hash[items]
        self.acc.short_doc.append(doc[same] + base)
        self.acc.short_item.append(items[same])

    # --- once all batches are in ---------------------------------------------------------
    def finalize(self) -> tuple[list[Hit], list[Hit], dict[str, tuple[str, int]]]:
        """(hits, borderline pairs, allow-list {n-gram: (reason, count)} for this run)."""
        s, acc = self.settings, self.acc
        n_items = max(len(self.items.offsets) - 1, 1)
        doc_grams = acc.cat("doc_grams", np.int64)
        pd, pi, overlap = (acc.cat("pair_doc", np.int64), acc.cat("pair_item", np.int64),
                           acc.cat("pair_overlap", np.int64))
        denominator = np.maximum(np.minimum(doc_grams[pd], self.item_grams[pi]), 1) if len(pd) else pd
        ratio = overlap / denominator if len(pd) else np.zeros(0)
        pair_keys = pd * n_items + pi
        order = np.argsort(pair_keys)
        pair_keys, ratio_sorted, overlap_sorted = pair_keys[order], ratio[order], overlap[order]

        def pair_stats(docs: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """(ratio, overlap) of each (doc, item); 0 where they share no short gram."""
            if len(pair_keys) == 0:
                return np.zeros(len(docs)), np.zeros(len(docs), np.int64)
            keys = docs * n_items + items
            at = np.minimum(np.searchsorted(pair_keys, keys), len(pair_keys) - 1)
            found = pair_keys[at] == keys
            return np.where(found, ratio_sorted[at], 0.0), np.where(found, overlap_sorted[at], 0)

        long_doc, long_hash = acc.cat("long_doc", np.int64), acc.cat("long_hash", np.uint64)
        which, packed = self.long.expand(long_hash)
        l_doc, l_item, l_pos = long_doc[which], packed >> _POS_BITS, packed & ((1 << _POS_BITS) - 1)
        l_hash = long_hash[which]
        l_ratio, l_overlap = pair_stats(l_doc, l_item)
        pool = self._pool_boilerplate(l_doc, l_hash, l_ratio < s.ratio_contaminated)
        hits: list[Hit] = []
        seen: set[tuple[int, int]] = set()
        reviews: list[Hit] = []
        rows = zip(l_doc.tolist(), l_item.tolist(), l_pos.tolist(), l_hash.tolist(), l_ratio.tolist(),
                   l_overlap.tolist())
        for d, i, p, h, r, o in rows:
            if h in pool or (d, i) in seen:
                continue
            seen.add((d, i))
            start = int(self.items.offsets[i]) + p
            gram = self.encoder.ngram_text(self.items.ids[start:start + self.n])
            hit = Hit(d, i, f"ngram{self.n}", round(r, 4), f"shared {self.n}-gram: {gram}")
            # One shared n-gram in otherwise unrelated texts is boilerplate the allow-list missed.
            (hits if r >= s.ngram_min_ratio else reviews).append(hit)
        for d, i, o, r in zip(pd.tolist(), pi.tolist(), overlap.tolist(), ratio.tolist()):
            if (d, i) in seen or r < s.ratio_partial:
                continue
            text = f"{self.r}-gram overlap {o} of min(prompt, item) = {r:.2f}"
            hit = Hit(d, i, f"ngram{self.r}", round(r, 4), text)
            (hits if r >= s.ratio_contaminated else reviews).append(hit)
        for d, i in zip(acc.cat("short_doc", np.int64).tolist(), acc.cat("short_item", np.int64).tolist()):
            size = int(self.items.lengths[i])
            hits.append(Hit(d, i, "short", 1.0, f"whole {size}-token item inside the prompt"))
        allowlist = {text: ("benchmarks", count) for text, count in self.boilerplate.values()}
        allowlist.update({text: ("pool", count) for text, count in pool.values()})
        self.acc = _Accumulated()
        return hits, reviews, allowlist

    def _pool_boilerplate(self, docs: np.ndarray, hashes: np.ndarray, unrelated: np.ndarray) -> dict:
        """{hash: (n-gram, prompts)} of long n-grams shared with many unrelated prompts."""
        _, h, _ = unique_pairs(docs[unrelated], hashes[unrelated])
        keys, counts = np.unique(h, return_counts=True)
        frequent = counts >= self.settings.allowlist_min_prompts
        out = {}
        for key, count in zip(keys[frequent].tolist(), counts[frequent].tolist()):
            _, packed = self.long.expand(np.array([key], np.uint64))
            item, pos = int(packed[0] >> _POS_BITS), int(packed[0] & ((1 << _POS_BITS) - 1))
            start = int(self.items.offsets[item]) + pos
            out[key] = (self.encoder.ngram_text(self.items.ids[start:start + self.n]), count)
        return out
