"""Tasks layer (dedup): candidate pairs from LSH band keys, by sorting each band's keys.

Documents are integer ids (new prompts first, then matched prompts of the kept pool); a band
key shared by two or more ids is a bucket. Each id is paired with up to `max_partners` ids that
come before it in its bucket (ids are in keep-preference order): a whole clique for ordinary
buckets, a bounded number of pairs for a bucket of thousands of copies of one boilerplate text
(the best-ranked members are then hubs that union-find joins through).

Template-heavy pools (one problem with other numbers, 20-30 times) fill buckets with members
that can never be duplicates of each other: with a `second` key per id (the number hash), a
bucket is split by it before any pair exists, so the work per bucket is the pairs that can
still be duplicates, and those split off are only counted (per band, from the bucket sizes).
Bands are processed one at a time, so memory holds one band's entries and the distinct pairs,
never pairs x bands. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from tasks.dedup.shingles import splitmix

MAX_PARTNERS = 32


def colliding(keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group, id) of every entry whose key occurs more than once in `keys`, grouped: equal
    groups are equal keys. The id is packed into the low bits of the mixed key and the packed
    values sorted (a plain sort is much faster than an argsort): keys then compare on the high
    bits of their mix only, so two different keys meet by chance, about n**2 / 2**(65 - id
    bits) false pairs per band (a handful in a million), which verification rejects."""
    if len(keys) < 2:
        return keys[:0], ids[:0]
    bits = max(1, int(ids.max()).bit_length())
    if bits > 40:  # too few key bits would be left: sort the keys with their ids instead
        order = np.argsort(keys)
        ordered, members = keys[order], ids[order]
    else:
        low = np.uint64((1 << bits) - 1)
        packed = (splitmix(keys.view(np.uint64)) & ~low) | ids.astype(np.uint64)
        packed.sort()
        ordered, members = (packed & ~low).view(np.int64), (packed & low).astype(np.int64)
    same = ordered[1:] == ordered[:-1]
    hit = np.zeros(len(keys), bool)
    hit[1:] |= same
    hit[:-1] |= same
    return ordered[hit], members[hit]


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


def bounded_pair_count(keys: np.ndarray, max_partners: int = MAX_PARTNERS) -> int:
    """How many pairs `pairs_in_buckets` forms from contiguous runs of equal `keys` (before
    removing pairs that other buckets also form)."""
    if len(keys) == 0:
        return 0
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    capped = np.minimum(sizes, max_partners + 1)
    # member j of a bucket pairs with min(j, max_partners) earlier members
    return int((capped * (capped - 1) // 2 + (sizes - capped) * max_partners).sum())


def split_by(keys: np.ndarray, ids: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The colliding (key, id) entries of buckets re-keyed by (key, second[id])."""
    with np.errstate(over="ignore"):
        mixed = (keys.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ second[ids].view(np.uint64)
    return colliding(mixed.view(np.int64), ids)


def _band_entries(band_keys, new_ids, old_keys, old_ids, old_bands, band):
    keys, ids = band_keys[:, band], new_ids
    if old_keys is not None and len(old_keys):
        mine = old_bands == band
        keys = np.concatenate([keys, old_keys[mine]])
        ids = np.concatenate([ids, old_ids[mine]])
    return keys, ids


def candidate_pairs(
    band_keys: np.ndarray, new_ids: np.ndarray, old_keys: np.ndarray | None = None,
    old_ids: np.ndarray | None = None, old_bands: np.ndarray | None = None,
    max_partners: int = MAX_PARTNERS, second: np.ndarray | None = None, split_off: list | None = None,
) -> np.ndarray:
    """Candidate pairs among new documents (row r of `band_keys` is id `new_ids[r]`) and between
    them and kept-pool entries (`old_keys[i]`, of band `old_bands[i]`, belongs to `old_ids[i]`;
    old ids are above every new id). Pairs of two old ids are left out: settled earlier.
    With `second` (indexed by id), only ids with equal `second` pair; `split_off` then gets,
    per band, how many pairs the split saved."""
    codes = []
    base = np.int64(max(int(new_ids.max(initial=-1)), int(old_ids.max(initial=-1)) if old_ids is not None else -1) + 1)
    first_old = old_ids.min() if old_ids is not None and len(old_ids) else None
    for band in range(band_keys.shape[1]):
        k, i = colliding(*_band_entries(band_keys, new_ids, old_keys, old_ids, old_bands, band))
        if second is not None and len(k):
            before = bounded_pair_count(k, max_partners)
            k, i = split_by(k, i, second)
            if split_off is not None:
                split_off.append(before - bounded_pair_count(k, max_partners))
        pairs = pairs_in_buckets(k, i, max_partners)
        if first_old is not None and len(pairs):
            pairs = pairs[pairs[:, 0] < first_old]
        codes.append(pairs[:, 0] * base + pairs[:, 1])
    codes = np.unique(np.concatenate(codes)) if codes else np.zeros(0, np.int64)
    return np.stack([codes // base, codes % base], axis=1) if len(codes) else np.zeros((0, 2), np.int64)
