"""Tasks layer (decontam): layer 3, MinHash similarity to benchmark items (rensa).

Word shingles (hashes of `minhash_shingle` consecutive tokens) of every item and prompt go to
rensa's R-MinHash as pre-hashed flat buffers; LSH bands over the signatures give candidate
pairs, and the share of equal signature slots estimates their Jaccard similarity. Catches
near-copies whose edits break long n-grams. A prompt can only reach Jaccard t with an item if
at least a share t of its shingles occur in some item, so prompts below that (exactly
counted, in bulk) are never sketched: the common case costs one hash-set lookup per shingle.
"""

from __future__ import annotations

import numpy as np
import rensa

from schemas.decontam import DecontamSettings
from tasks.decontam.encode import BatchView
from tasks.decontam.hashtable import HashTable
from tasks.decontam.ngrams import Hit, unique_pairs

_SEED = 20250101
_BAND_MULT = np.uint64(0xD6E8FEB86659FD93)


def _shingles(view: BatchView, k: int, docs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, row offsets) of the k-token shingles of each text (of `docs`, if given)."""
    starts = view.starts(k, known_only=False)
    owner = view.doc[starts]
    if docs is not None:
        keep = np.isin(owner, docs)
        starts, owner = starts[keep], owner[keep]
        owner = np.searchsorted(docs, owner)
    rows = len(view.batch.lengths) if docs is None else len(docs)
    counts = np.bincount(owner, minlength=rows)
    return view.hashes[k][starts], np.concatenate(([0], np.cumsum(counts))).astype(np.uint64)


def _bands(digests: np.ndarray, bands: int) -> np.ndarray:
    """(rows, bands) uint64 band keys; the band number is mixed in so bands never collide."""
    rows = digests.reshape(len(digests), bands, -1).astype(np.uint64)
    key = np.zeros((len(digests), bands), np.uint64)
    with np.errstate(over="ignore"):
        for column in range(rows.shape[2]):
            key = key * _BAND_MULT + rows[:, :, column] + np.uint64(1)
        key += np.arange(bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return key


class MinHashIndex:
    def __init__(self, items: BatchView, settings: DecontamSettings):
        self.settings = settings
        self.k = settings.minhash_shingle
        hashes, offsets = _shingles(items, self.k)
        self.shingles = HashTable(hashes)
        self.digests = self._digests(hashes, offsets)
        sketched = np.flatnonzero(np.diff(offsets.astype(np.int64)) > 0)  # items shorter than k: no sketch
        band_keys = _bands(self.digests[sketched], settings.minhash_bands)
        self.bands = HashTable(band_keys.ravel(), np.repeat(sketched, settings.minhash_bands))

    def _digests(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        if len(offsets) <= 1:
            return np.zeros((0, self.settings.minhash_num_perm), np.uint32)
        matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
            hashes, offsets, self.settings.minhash_num_perm, _SEED)
        return np.asarray(matrix.to_rows(), dtype=np.uint32).reshape(len(offsets) - 1, -1)

    def candidates(self, view: BatchView) -> np.ndarray:
        """Texts whose shingles are at least a share `minhash_threshold` benchmark shingles."""
        starts = view.starts(self.k, known_only=False)
        docs = view.doc[starts]
        size = len(view.batch.lengths)
        total = np.bincount(docs, minlength=size)
        known = view.all_known(starts, self.k)  # a shingle with an unknown token is in no item
        inside = self.shingles.contains(view.hashes[self.k][starts[known]])
        shared = np.bincount(docs[known][inside], minlength=size)
        return np.flatnonzero((total > 0) & (shared >= self.settings.minhash_threshold * total))

    def scan(self, view: BatchView, base: int) -> list[Hit]:
        docs = self.candidates(view)
        if len(docs) == 0:
            return []
        hashes, offsets = _shingles(view, self.k, docs)
        digests = self._digests(hashes, offsets)
        keys = _bands(digests, self.settings.minhash_bands)
        which, items = self.bands.expand(keys.ravel())
        rows, items, _ = unique_pairs(which // self.settings.minhash_bands, items)
        if len(rows) == 0:
            return []
        jaccard = (digests[rows] == self.digests[items]).mean(axis=1)
        good = jaccard >= self.settings.minhash_threshold
        k = self.k
        return [Hit(int(docs[r]) + base, int(i), "minhash", round(float(j), 4),
                    f"estimated Jaccard {j:.2f} of {k}-token shingles")
                for r, i, j in zip(rows[good], items[good], jaccard[good])]
