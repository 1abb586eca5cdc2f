"""Tasks layer (decontam): benchmark siblings, an item's text with other numbers.

A templated variant of a test item (the same sentence, other numbers) is not a copy, yet the
Phi-4 report's n-gram method and careful users count it as contamination. Each text's token
sequence with every number replaced by one placeholder (its skeleton) is hashed whole, in
bulk; a prompt whose skeleton equals an item's is that item's sibling. Items with too few
words or no number (`sibling_min_words`, "Compute $\\binom{8}{4}$.") are left out: their
skeletons are shared by unrelated problems. numpy only; the stage applies `sibling_policy`.
"""

from __future__ import annotations

import numpy as np

from schemas.decontam import DecontamSettings
from tasks.decontam.encode import TokenBatch, _mix
from tasks.decontam.hashtable import HashTable

_NUM = np.uint64(0x5DEECE66D)  # the placeholder's mixed value
_MULT = np.uint64(0xA24BAED4963EE407)


def skeleton_hashes(batch: TokenBatch) -> np.ndarray:
    """One 64-bit hash per text of its tokens with numbers masked (polynomial, position-weighted)."""
    n = len(batch.lengths)
    out = np.zeros(n, np.uint64)
    if len(batch.ids) == 0:
        return out
    mixed = _mix(batch.ids)
    mixed[batch.numeric] = _NUM
    doc = batch.doc_of()
    room = batch.offsets[1:][doc] - np.arange(len(batch.ids))  # tokens of its text from here
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(int(room.max()), _MULT, np.uint64))
        weighted = mixed * powers[room - 1]
        nonempty = np.flatnonzero(batch.lengths > 0)
        out[nonempty] = np.add.reduceat(weighted, batch.offsets[nonempty])
        out += batch.lengths.astype(np.uint64)  # texts of other lengths never collide by sum
    return out


class SiblingIndex:
    def __init__(self, items: TokenBatch, settings: DecontamSettings):
        numbers = np.bincount(items.doc_of(), batch_numeric(items), len(items.lengths)).astype(np.int64)
        words = items.lengths - numbers
        eligible = np.flatnonzero((numbers >= 1) & (words >= settings.sibling_min_words))
        self.table = HashTable(skeleton_hashes(items)[eligible], eligible)

    def find(self, batch: TokenBatch) -> list[tuple[int, int]]:
        """(text index, item index) of every text whose skeleton is an eligible item's."""
        hashes = skeleton_hashes(batch)
        which, items = self.table.expand(hashes)
        return list(zip(which.tolist(), items.tolist()))


def batch_numeric(batch: TokenBatch) -> np.ndarray:
    return batch.numeric.astype(np.int64) if batch.numeric is not None else np.zeros(len(batch.ids), np.int64)
