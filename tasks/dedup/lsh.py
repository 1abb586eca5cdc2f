"""Tasks layer (dedup): candidate pairs from LSH band keys, by sorting each band's keys.

Documents are integer ids (new prompts first, then matched prompts of the kept pool); a band
key shared by two or more ids is a bucket. Each id is paired with up to `max_partners` ids that
come before it in its bucket (ids are in keep-preference order): a whole clique for ordinary
buckets, a bounded number of pairs for a bucket of thousands of copies of one boilerplate text
(the best-ranked members are then hubs that union-find joins through). Pure numpy.
"""

from __future__ import annotations

import numpy as np

MAX_PARTNERS = 32


def colliding(keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(key, id) of every entry whose key occurs more than once in `keys`."""
    if len(keys) < 2:
        return keys[:0], ids[:0]
    order = np.argsort(keys)  # per band: a few million values sort fast (SIMD argsort)
    ordered = keys[order]
    same = ordered[1:] == ordered[:-1]
    hit = np.zeros(len(keys), bool)
    hit[1:] |= same
    hit[:-1] |= same
    return ordered[hit], ids[order[hit]]


def _ids_sorted_within_runs(run_of: np.ndarray, sizes: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """`ids` with each bucket's members in ascending order; only buckets of three or more need
    it (a pair is a pair in any order), and those are few, so only they are sorted."""
    big = np.flatnonzero(sizes[run_of] > 2)
    if not len(big):
        return ids
    ids = ids.copy()
    ids[big] = ids[big][np.lexsort((ids[big], run_of[big]))]
    return ids


def pairs_in_buckets(keys: np.ndarray, ids: np.ndarray, max_partners: int = MAX_PARTNERS) -> np.ndarray:
    """(pairs x 2) int64 [low id, high id], unique, from (key, id) entries of shared keys.
    Equal keys must be contiguous (as `colliding` returns them); an id occurs once per key."""
    if len(keys) == 0:
        return np.zeros((0, 2), np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    run_of = np.repeat(np.arange(len(starts)), sizes)
    ids = _ids_sorted_within_runs(run_of, sizes, ids)
    run_start = starts[run_of]
    partners = np.minimum(np.arange(len(keys)) - run_start, max_partners)
    right = np.repeat(ids, partners)
    offsets = np.arange(int(partners.sum())) - np.repeat(np.cumsum(partners) - partners, partners)
    left = ids[np.repeat(run_start, partners) + offsets]
    low, high = np.minimum(left, right), np.maximum(left, right)
    base = np.int64(ids.max() + 1)
    codes = np.unique(low * base + high)  # one int per pair: a fast 1-D unique across bands
    return np.stack([codes // base, codes % base], axis=1)


def candidate_pairs(
    band_keys: np.ndarray, new_ids: np.ndarray, old_keys: np.ndarray | None = None,
    old_ids: np.ndarray | None = None, old_bands: np.ndarray | None = None,
    max_partners: int = MAX_PARTNERS,
) -> np.ndarray:
    """Candidate pairs among new documents (row r of `band_keys` is id `new_ids[r]`) and between
    them and kept-pool entries (`old_keys[i]`, of band `old_bands[i]`, belongs to `old_ids[i]`;
    old ids are above every new id). Pairs of two old ids are left out: settled earlier."""
    bands = band_keys.shape[1]
    found_keys, found_ids = [], []
    for band in range(bands):
        keys, ids = band_keys[:, band], new_ids
        if old_keys is not None and len(old_keys):
            mine = old_bands == band
            keys = np.concatenate([keys, old_keys[mine]])
            ids = np.concatenate([ids, old_ids[mine]])
        k, i = colliding(keys, ids)
        found_keys.append(k)
        found_ids.append(i)
    keys = np.concatenate(found_keys) if found_keys else np.zeros(0, np.int64)
    ids = np.concatenate(found_ids) if found_ids else np.zeros(0, np.int64)
    pairs = pairs_in_buckets(keys, ids, max_partners)
    if old_ids is not None and len(old_ids) and len(pairs):
        pairs = pairs[pairs[:, 0] < old_ids.min()]
    return pairs
