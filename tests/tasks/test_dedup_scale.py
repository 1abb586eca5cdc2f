"""Dedup candidate work on template-heavy pools: buckets split by the number hash before any
pair exists (same pairs as generating then guarding, none for a numbers-changed family), the
split-off work counted, and the work per prompt flat as the pool grows. Pure numpy."""

from collections import Counter

import numpy as np
import pytest

from tasks.dedup.lsh import bounded_pair_count, candidate_pairs, colliding, pairs_in_buckets
from tasks.dedup.minhash import LshParams, sign_shard
from tasks.dedup.pairs import number_guard

TEMPLATE = ("A farmer has {} cows and {} sheep on a field of {} acres next to the river. Every week he "
            "buys {} more animals of each kind at the market in town. How many animals does he have after {} weeks?")
PARAMS = LshParams("word", 2, 19, 3, 1)


def templated_pool(families: int, size: int = 25, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for f in range(families):
        words = TEMPLATE.replace("farmer", f"farmer{f}").replace("river", f"river{f}")
        out += [words.format(*rng.integers(2, 10**4, 5).tolist()) for _ in range(size)]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_split_gives_the_pairs_that_generating_then_guarding_gives(seed):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 6, (60, 4)).astype(np.int64)  # small buckets: nothing capped
    numbers = rng.integers(0, 3, 60).astype(np.uint64)
    plain = candidate_pairs(keys, np.arange(60), max_partners=1000)
    guarded = number_guard(plain, numbers, Counter())
    split = candidate_pairs(keys, np.arange(60), max_partners=1000, second=numbers)
    assert split.tolist() == guarded.tolist()


def test_bounded_pair_count_matches_the_pairs_formed():
    rng = np.random.default_rng(3)
    keys, ids = colliding(rng.integers(0, 50, 2000).astype(np.int64), np.arange(2000))
    for cap in (1, 5, 32, 1000):
        before_unique = sum(min(j, cap) for size in np.unique(keys, return_counts=True)[1] for j in range(size))
        assert bounded_pair_count(keys, cap) == before_unique
        assert len(pairs_in_buckets(keys, ids, cap)) == before_unique  # one key per pair here


def test_a_numbers_changed_family_makes_no_candidate_pairs_and_the_split_is_counted():
    texts = templated_pool(4)
    signed = sign_shard(texts, PARAMS)
    plain = candidate_pairs(signed.keys, np.arange(len(texts)))
    assert len(plain) > 4 * 100  # the family shares band keys: cliques without the split
    split_off: list[int] = []
    pairs = candidate_pairs(signed.keys, np.arange(len(texts)), second=signed.numbers, split_off=split_off)
    assert len(pairs) == 0 and sum(split_off) >= len(plain)


def test_candidate_work_per_prompt_does_not_grow_with_the_pool():
    per_prompt = []
    for families in (20, 80):
        texts = templated_pool(families, seed=families)
        texts += [t.replace("cows", "goats", 1) for t in texts[::25]]  # one near copy per family
        signed = sign_shard(texts, PARAMS)
        pairs = candidate_pairs(signed.keys, np.arange(len(texts)), second=signed.numbers)
        per_prompt.append(len(pairs) / len(texts))
        assert len(pairs) >= families  # every near copy still meets its original
    assert per_prompt[1] <= per_prompt[0] * 1.3


def test_pool_entries_split_by_their_number_hash_too():
    keys = np.array([[7, 8], [7, 9]], np.int64)  # two new prompts sharing band 0
    numbers = np.array([1, 1, 2, 1], np.uint64)  # ids 2 and 3 are pool prompts
    old_keys, old_ids, old_bands = np.array([7, 7, 9]), np.array([2, 3, 3]), np.array([0, 0, 1])
    pairs = candidate_pairs(keys, np.arange(2), old_keys, old_ids, old_bands, second=numbers)
    assert pairs.tolist() == [[0, 1], [0, 3], [1, 3]]  # id 2 has other numbers
