"""Tasks layer (decontam): a static set of 64-bit hashes with values, queried in bulk.

Benchmark n-grams, shingles and LSH band keys all end up here. Membership of millions of
hashes: a bitmap over the top bits answers most misses with one gather, an open-addressing
table (linear probing, load <= 1/4) the rest in one or two more; `expand` (hash -> values)
binary-searches sorted arrays, and is only asked about hits. numpy only.
"""

from __future__ import annotations

import numpy as np

_BITS = 24
_SHIFT = np.uint64(64 - _BITS)


class HashTable:
    """hash -> values (several values per hash allowed); `keys` sorted, `values` aligned."""

    def __init__(self, keys: np.ndarray, values: np.ndarray | None = None):
        keys = np.asarray(keys, np.uint64)
        values = np.zeros(len(keys), np.int64) if values is None else np.asarray(values, np.int64)
        order = np.lexsort((values, keys))
        self.keys, self.values = keys[order], values[order]
        self.unique = np.unique(self.keys)
        self._bitmap = np.zeros(1 << _BITS, bool)
        self._bitmap[self.unique >> _SHIFT] = True
        self._build_slots()

    def _build_slots(self) -> None:
        keys = self.unique[self.unique != 0]  # 0 marks an empty slot; a zero hash is checked apart
        self._has_zero = len(keys) < len(self.unique)
        bits = max(int(np.ceil(np.log2(max(len(keys), 1) * 4))), 4)
        self._slot_shift = np.uint64(64 - bits)
        home = (keys >> self._slot_shift).astype(np.int64)
        # Keys are sorted, so homes ascend: linear probing without wrap-around puts key i at
        # max(home_i, slot_{i-1} + 1), i.e. i + running max of (home - i). An empty slot ends the table.
        index = np.arange(len(keys))
        slot = index + np.maximum.accumulate(home - index) if len(keys) else index
        self._slots = np.zeros(max(int(slot[-1]) + 2 if len(keys) else 1, 1 << bits), np.uint64)
        self._slots[slot] = keys

    def __len__(self) -> int:
        return len(self.unique)

    def contains(self, queries: np.ndarray) -> np.ndarray:
        """Boolean mask: which queries are keys."""
        queries = np.asarray(queries, np.uint64)
        found = self._bitmap[queries >> _SHIFT]
        pending = np.flatnonzero(found)
        found[pending] = False
        home = (queries[pending] >> self._slot_shift).astype(np.int64)
        probe = 0
        while len(pending):
            value = self._slots[home + probe]
            query = queries[pending]
            hit = value == query
            found[pending[hit]] = True
            go_on = (value != 0) & ~hit
            pending, home, probe = pending[go_on], home[go_on], probe + 1
        if self._has_zero:
            found |= queries == 0
        return found

    def expand(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query index, value) for every stored value of every query that is a key."""
        queries = np.asarray(queries, np.uint64)
        lo = np.searchsorted(self.keys, queries, "left")
        hi = np.searchsorted(self.keys, queries, "right")
        counts = hi - lo
        which = np.repeat(np.arange(len(queries)), counts)
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        return which, self.values[starts + np.arange(counts.sum())]
