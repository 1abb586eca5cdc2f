"""Tasks layer (dedup): the compiled inner loops, tokenising ASCII texts and verifying pairs.

Tokens: the word shingler's tokens of an all-ASCII text (lower-cased letter/digit runs, a comma
between two digits joined, everything else a separator) hashed with FNV-1a while the bytes are
read once; the Arrow path of `shingles` gives the same tokens and hashes for any other text,
this is the same function for the common case at a fraction of the cost.
Pairs: a candidate pair is verified by the exact Jaccard similarity of the two prompts' shingle
sets, kept from signing as sorted, duplicate-free 32-bit fingerprints (`ShingleSets`), so one
pair is a merge of two short sorted runs: a million pairs take well under a second compiled,
against tens of seconds of Python sets.
Compiled with numba; the machine code is cached beside this module (or in numba's user cache
when that is read-only), so a run after the first only loads it.
"""

from __future__ import annotations

import threading

import numpy as np


FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def _compile() -> dict:
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

    @numba.njit(cache=True, nogil=True)
    def ascii_tokens(data, offsets, units, counts):  # pragma: no cover - compiled
        prime = np.uint64(FNV_PRIME)
        k = 0
        for doc in range(len(offsets) - 1):
            start, end = offsets[doc], offsets[doc + 1]
            found = 0
            inside = False
            value = np.uint64(FNV_OFFSET)
            for i in range(start, end):
                c = data[i]
                if 65 <= c <= 90:
                    c += 32
                digit = 48 <= c <= 57
                if digit or 97 <= c <= 122:
                    if not inside:
                        inside = True
                        value = np.uint64(FNV_OFFSET)
                    value = (value ^ np.uint64(c)) * prime
                elif (c == 44 and inside and 48 <= data[i - 1] <= 57 and i + 1 < end
                      and 48 <= data[i + 1] <= 57):
                    continue  # "1,000" is one token
                elif inside:
                    units[k] = value
                    k += 1
                    found += 1
                    inside = False
            if inside:
                units[k] = value
                k += 1
                found += 1
            counts[doc] = found
        return k

    @numba.njit(cache=True, nogil=True, inline="always")
    def mix(value):  # pragma: no cover - compiled; SplitMix64's finaliser, as shingles.splitmix
        z = value + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    @numba.njit(cache=True, nogil=True)
    def ascii_numbers(data, offsets, out):  # pragma: no cover - compiled
        prime = np.uint64(FNV_PRIME)
        for doc in range(len(offsets) - 1):
            start, end = offsets[doc], offsets[doc + 1]
            total = np.uint64(0)
            i = start
            while i < end:
                if not 48 <= data[i] <= 57:
                    i += 1
                    continue
                value = np.uint64(FNV_OFFSET)
                fraction = False
                while i < end:
                    c = data[i]
                    if 48 <= c <= 57:
                        value = (value ^ np.uint64(c)) * prime
                    elif c == 44 and 48 <= data[i - 1] <= 57 and i + 1 < end and 48 <= data[i + 1] <= 57:
                        pass  # "1,000" is 1000
                    elif c == 46 and not fraction and i + 1 < end and 48 <= data[i + 1] <= 57:
                        fraction = True
                        value = (value ^ np.uint64(c)) * prime
                    else:
                        break
                    i += 1
                total += mix(value)
            out[doc] = total

    return {"jaccard_rows": jaccard_rows, "ascii_tokens": ascii_tokens, "ascii_numbers": ascii_numbers}


_kernels: dict | None = None
_lock = threading.Lock()


def load() -> None:
    _loaded()


def _loaded() -> dict:
    """The compiled kernels, compiled (or loaded from the cache) once per process."""
    global _kernels
    with _lock:
        if _kernels is None:
            kernels = _compile()
            kernels["jaccard_rows"](np.zeros(1, np.uint32), np.array([0, 1, 1], np.int64),
                                    np.array([[0, 1]], np.int64), np.zeros(1))
            text = np.frombuffer(b"a", np.uint8)  # read-only, as texts' bytes are: one compiled type
            kernels["ascii_tokens"](text, np.array([0, 1], np.int64),
                                    np.zeros(2, np.uint64), np.zeros(1, np.int64))
            kernels["ascii_numbers"](text, np.array([0, 1], np.int64), np.zeros(1, np.uint64))
            _kernels = kernels
    return _kernels


def warm_up_in_background() -> None:
    """Import numba and load the compiled kernel while the caller does other work (the
    first verification then finds it ready)."""
    threading.Thread(target=_loaded, daemon=True, name="dedup-kernels").start()


def jaccard_of_pairs(values: np.ndarray, offsets: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Jaccard of the sets of rows (a, b) of `pairs`: set r is values[offsets[r]:offsets[r+1]],
    sorted ascending without repeats; two empty sets are equal (1.0)."""
    out = np.empty(len(pairs), np.float64)
    if len(pairs):
        _loaded()["jaccard_rows"](
            np.ascontiguousarray(values, np.uint32), np.ascontiguousarray(offsets, np.int64),
            np.ascontiguousarray(pairs, np.int64), out,
        )
    return out


def ascii_word_units(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FNV-1a hash per token, token offsets per text) of all-ASCII texts given as their bytes
    (uint8) and int64 byte offsets (len = texts + 1)."""
    texts = len(offsets) - 1
    units = np.empty((len(data) + 1) // 2 + texts, np.uint64)  # a token and its separator: 2 bytes
    counts = np.empty(texts, np.int64)
    found = _loaded()["ascii_tokens"](data, np.ascontiguousarray(offsets, np.int64), units, counts)
    return units[:found], np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def ascii_number_hashes(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """uint64 per all-ASCII text: the sum of the mixed FNV-1a hashes of its numbers (digit runs
    with an optional decimal part, a comma between two digits dropped), as `shingles.number_hashes`."""
    out = np.empty(len(offsets) - 1, np.uint64)
    _loaded()["ascii_numbers"](data, np.ascontiguousarray(offsets, np.int64), out)
    return out
