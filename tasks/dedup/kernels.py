"""Tasks layer (dedup): the compiled inner loop of verification, exact Jaccard of set pairs.

A candidate pair is verified by the exact Jaccard similarity of the two prompts' shingle sets.
The sets are kept from signing as sorted, duplicate-free 32-bit fingerprints (`Shingled`), so
one pair is a merge of two short sorted runs: a million pairs take well under a second compiled
(numba), against tens of seconds of Python sets. Compiled code is cached beside this module
(or in numba's user cache when that is read-only), so a run after the first only loads it.
"""

from __future__ import annotations

import threading

import numpy as np


def _compile():
    import numba

    @numba.njit(cache=True, nogil=True)
    def jaccard_rows(values, offsets, pairs, out):  # pragma: no cover - compiled
        for row in range(pairs.shape[0]):
            a, b = pairs[row, 0], pairs[row, 1]
            i, i_end, j, j_end = offsets[a], offsets[a + 1], offsets[b], offsets[b + 1]
            size = (i_end - i) + (j_end - j)
            common = 0
            while i < i_end and j < j_end:
                x, y = values[i], values[j]
                if x == y:
                    common += 1
                    i += 1
                    j += 1
                elif x < y:
                    i += 1
                else:
                    j += 1
            union = size - common
            out[row] = common / union if union else 1.0

    return jaccard_rows


_kernel = None
_lock = threading.Lock()


def _jaccard_kernel():
    global _kernel
    with _lock:
        if _kernel is None:
            _kernel = _compile()
            tiny = np.zeros(1, np.uint32)
            _kernel(tiny, np.array([0, 1, 1], np.int64), np.array([[0, 1]], np.int64), np.zeros(1))
    return _kernel


def warm_up_in_background() -> None:
    """Import numba and load the compiled kernel while the caller does other work (the
    first verification then finds it ready)."""
    threading.Thread(target=_jaccard_kernel, daemon=True, name="dedup-kernel").start()


def jaccard_of_pairs(values: np.ndarray, offsets: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Jaccard of the sets of rows (a, b) of `pairs`: set r is values[offsets[r]:offsets[r+1]],
    sorted ascending without repeats; two empty sets are equal (1.0)."""
    out = np.empty(len(pairs), np.float64)
    if len(pairs):
        _jaccard_kernel()(
            np.ascontiguousarray(values, np.uint32), np.ascontiguousarray(offsets, np.int64),
            np.ascontiguousarray(pairs, np.int64), out,
        )
    return out
