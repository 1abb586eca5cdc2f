"""Tasks layer (dedup): MinHash signatures (rensa) and LSH band keys of a shard of texts.

A shard of texts becomes shingle hashes (`shingles`), then rensa R-MinHash signatures over those
hashes, then one 64-bit key per LSH band: two texts share a band key iff they agree on all
`rows` minima of that band (the key also encodes the band number, so keys of different bands
never meet). Only band keys, a hash of each text's numbers and its shingle set (to verify
candidates without going back to the texts) leave this module: the keys are what the warehouse stores, so later runs compare new prompts with the kept pool without
recomputing its signatures. Bands/rows follow from the threshold unless given.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from itertools import chain

import numpy as np
import pyarrow as pa
import rensa

from tasks.dedup.shingles import ShingleKind, Shingled, ShingleSets, number_hashes, shingle, shingle_sets, splitmix

# Band keys depend on the shingle hashing and on rensa's algorithm: bump when either changes.
KEY_VERSION = f"2-rensa{rensa.RMinHash.ALGORITHM_VERSION}"  # 2: FNV-1a word tokens


@dataclass(frozen=True)
class LshParams:
    """Everything that changes band keys; `key` names them in the warehouse."""

    shingle: ShingleKind
    ngram: int
    bands: int
    rows: int
    seed: int

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def key(self) -> str:
        text = ",".join(f"{k}={v}" for k, v in sorted(asdict(self).items())) + f",v={KEY_VERSION}"
        return f"{self.shingle}{self.ngram}-b{self.bands}r{self.rows}-" + hashlib.blake2b(
            text.encode(), digest_size=4
        ).hexdigest()


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Chance that two sets of this Jaccard similarity share at least one band key."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def choose_bands(threshold: float, max_perm: int, target: float) -> tuple[int, int]:
    """(bands, rows): the most rows per band (fewest chance collisions) for which enough bands
    to reach `target` candidate probability at `threshold` still fit in `max_perm` minima.
    Verification with exact Jaccard then removes the extra candidates a low threshold brings."""
    best = (max_perm, 1)
    for rows in range(1, max_perm + 1):
        p = threshold**rows
        if p >= 1.0:
            return 1, rows
        bands = math.ceil(math.log(1.0 - target) / math.log(1.0 - p)) if p > 0 else max_perm + 1
        if bands * rows > max_perm:
            break
        best = (bands, rows)
    return best


def signatures(shingled: Shingled, num_perm: int, seed: int) -> np.ndarray:
    """(documents x num_perm) uint32 R-MinHash minima; rows of empty documents are meaningless."""
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        shingled.hashes, shingled.offsets.astype(np.uint64), num_perm, seed
    )
    rows = matrix.to_rows()
    # to_rows gives Python lists: one flat fromiter is the cheapest way back into numpy.
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.uint32, count=len(rows) * num_perm)
    return flat.reshape(len(rows), num_perm)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents x bands) uint64 keys: a hash of the band number and its `rows` minima."""
    keys = np.empty((sig.shape[0], bands), np.uint64)
    wide = sig.astype(np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            value = np.full(sig.shape[0], np.uint64(band + 1))
            for column in range(band * rows, (band + 1) * rows):
                value = (value * np.uint64(0x9E3779B97F4A7C15)) ^ wide[:, column]
            keys[:, band] = splitmix(value)
    return keys


@dataclass(frozen=True)
class SignedShard:
    keys: np.ndarray  # (documents x bands) int64, as stored
    has_shingles: np.ndarray  # bool: a text without letters or digits gets no keys (it could
    # only collide with every other such text)
    numbers: np.ndarray  # uint64 hash of each text's numbers, for the number guard
    sets: ShingleSets  # each text's shingle set, for verifying candidate pairs without the texts


def sign_shard(texts: pa.Array | list[str], params: LshParams) -> SignedShard:
    """Band keys, number hashes and shingle sets of one shard of texts (runs in a worker)."""
    shingled = shingle(texts, params.shingle, params.ngram)
    keys = band_keys(signatures(shingled, params.num_perm, params.seed), params.bands, params.rows)
    return SignedShard(keys.view(np.int64), shingled.counts > 0, number_hashes(texts), shingle_sets(shingled))
