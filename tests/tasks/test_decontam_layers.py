"""Decontamination layers one by one: tokens, hash tables, n-grams, short items, MinHash, agreement."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.decontam import DecontamSettings
from tasks.decontam import mathsig
from tasks.decontam.encode import BatchView, Encoder, hash_at, rolling_hashes
from tasks.decontam.hashtable import HashTable
from tasks.decontam.minhash import MinHashIndex
from tasks.decontam.ngrams import NgramIndex, view_sizes
from tasks.text import tokens

ITEMS = [
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
    "for her friends every day with four. She sells the remainder at the market for $2 per egg. How much "
    "does she make every day?",
    "How many positive whole-number divisors does 196 have?",
    "Let $a$ and $b$ be relatively prime positive integers such that $\\dfrac ab=\\dfrac1{2^1}+\\dfrac2{3^2}"
    "+\\dfrac3{2^3}+\\dfrac4{3^4}$. Compute $a+b$ where m and n are relatively prime positive integers find m+n.",
]
BOILERPLATE = "The answer can be written as $\\frac{m}{n}$, where m and n are relatively prime positive integers. Find m+n."
SETTINGS = DecontamSettings(benchmarks=["unused"], allowlist_min_items=3)


def index(items: list[str], settings: DecontamSettings = SETTINGS):
    encoder = Encoder(items)
    view = BatchView(encoder.encode(items), encoder.vocab_size, view_sizes(settings))
    return encoder, NgramIndex(encoder, view, settings), MinHashIndex(view, settings)


def scan(encoder, ngram, minhash, prompts: list[str], settings: DecontamSettings = SETTINGS):
    view = BatchView(encoder.encode(prompts), encoder.vocab_size, view_sizes(settings))
    ngram.scan(view, 0)
    found = minhash.scan(view, 0)
    hits, reviews, allowlist = ngram.finalize()
    return hits + found, reviews, allowlist


def test_batch_tokens_are_the_shared_tokens_with_tex_spellings_merged():
    texts = ["Find $\\dfrac{1}{2}\\left(x_1+y\\right)$ — it’s  CAFÉ², \\sqrt2!", "", "Plain 12,000 words"]
    encoder = Encoder(texts)
    batch = encoder.encode(texts)
    assert batch.lengths.tolist() == [len(tokens(t)) - 2 for t in texts[:1]] + [0, 4]  # \left, \right dropped
    first = encoder.ngram_text(batch.ids[: batch.offsets[1]]).split()
    assert first == ["find", "\\frac", "1", "2", "x", "1", "y", "it", "s", "café2", "\\sqrt", "2"]
    assert encoder.vocab["\\dfrac".encode()] == encoder.vocab["\\frac".encode()]


def test_rolling_hashes_match_direct_hashes_and_hash_table_matches_isin():
    ids = np.array([4, 8, 15, 16, 23, 42, 4, 8, 15], np.int64)
    hashes = rolling_hashes(ids, [3, 5])
    view = BatchView(Encoder(["a"]).encode(["a b c d e f g h i"]), 100, [3])
    direct = hash_at(view.mixed, np.arange(7), np.full(7, 3))
    assert (view.hashes[3] == direct).all()
    assert hashes[3][0] == hashes[3][6]  # same 3 ids, same hash
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 2**63, 1000, dtype=np.int64).astype(np.uint64)
    keys[0] = 0
    queries = np.concatenate([keys[:500], rng.integers(1, 2**63, 500, dtype=np.int64).astype(np.uint64)])
    table = HashTable(keys, np.arange(1000))
    assert (table.contains(queries) == np.isin(queries, keys)).all()
    which, values = table.expand(queries[:5])
    assert (keys[values] == queries[:5][which]).all()


def test_verbatim_wrapped_and_truncated_copies_share_a_long_ngram():
    encoder, ngram, minhash = index(ITEMS + [BOILERPLATE] * 0)
    copy = "Please solve: " + ITEMS[0] + " Show your work."
    truncated = " ".join(ITEMS[0].split()[:25])
    hits, _, _ = scan(encoder, ngram, minhash, [copy, truncated, "Tom has 3 apples and eats one. How many are left?"])
    by_doc = {(h.doc, h.method) for h in hits}
    assert (0, "ngram13") in by_doc and (1, "ngram13") in by_doc
    assert not any(h.doc == 2 for h in hits)


def test_boilerplate_shared_by_many_items_is_allowlisted():
    items = [f"Problem {k}: a triangle has sides {k}, {k + 1}. {BOILERPLATE}" for k in range(3, 8)] + ITEMS[:2]
    encoder, ngram, minhash = index(items)
    other = f"A circle has radius 9 and chord 4. {BOILERPLATE}"
    hits, _, allowlist = scan(encoder, ngram, minhash, [other])
    assert not [h for h in hits if h.method == "ngram13"]
    assert any("relatively prime positive integers find m n" in g for g, (why, _) in allowlist.items()
               if why == "benchmarks")


def test_long_ngram_in_many_unrelated_prompts_becomes_pool_boilerplate():
    item = ("Draw the usual axes with ticks every unit and label the origin O and the point P clearly. "
            "Then how many lattice points lie strictly inside the circle of radius 5 centred at O?")
    settings = DecontamSettings(benchmarks=["unused"], allowlist_min_prompts=3)
    encoder, ngram, minhash = index([item, ITEMS[1]], settings)
    shared = "Draw the usual axes with ticks every unit and label the origin O and the point P clearly."
    prompts = [f"{shared} Question {k}: what is the slope of the line through O and ({k}, {k * 3})?" for k in range(4)]
    hits, reviews, allowlist = scan(encoder, ngram, minhash, prompts, settings)
    assert [h for h in hits if h.method == "ngram13"] == []
    assert any(why == "pool" for why, _ in allowlist.values())


def test_overlap_ratio_separates_hits_from_borderline_pairs():
    encoder, ngram, minhash = index(ITEMS)
    words = ITEMS[0].split()
    # Every 12th word changed: no 13-gram survives, under half of the 7-grams do: borderline.
    edited = " ".join("zz" + w if i % 12 == 6 else w for i, w in enumerate(words))
    hits, reviews, _ = scan(encoder, ngram, minhash, [edited])
    assert not [h for h in hits if h.method.startswith("ngram")]
    partial = [r for r in reviews if r.method == "ngram7"]
    assert partial and SETTINGS.ratio_partial <= partial[0].score < SETTINGS.ratio_contaminated


def test_short_items_are_caught_whole_but_not_inside_long_problems():
    encoder, ngram, minhash = index(ITEMS)
    long_problem = ("A number theory warm up. How many positive whole-number divisors does 196 have? Then "
                    + "consider many more unrelated words " * 8 + "and compute the sum of all of them.")
    prompts = ["How many positive whole-number divisors does 196 have?",
               "Answer the question. How many positive whole number divisors does 196 have? Put it in a box.",
               long_problem,
               "How many positive whole-number divisors does 200 have?"]
    hits, _, _ = scan(encoder, ngram, minhash, prompts)
    short = {h.doc for h in hits if h.method == "short"}
    assert short == {0, 1}


def test_minhash_catches_near_copies_with_scattered_edits():
    encoder, ngram, minhash = index(ITEMS)
    words = ITEMS[0].split()
    near = " ".join("eggz" if i == 10 else "dayz" if i == 30 else w for i, w in enumerate(words))
    hits, _, _ = scan(encoder, ngram, minhash, [near, "Completely different text about graphs and trees."])
    found = [h for h in hits if h.method == "minhash"]
    assert [h.doc for h in found] == [0] and found[0].score >= SETTINGS.minhash_threshold


def test_agreement_answers_and_containment():
    item = mathsig.Signature.of(ITEMS[0], "18")
    variant = mathsig.Signature.of(ITEMS[0].replace("16", "20").replace("$2", "$3"), "34")
    copy = mathsig.Signature.of("Q: " + ITEMS[0], "18")
    assert mathsig.agreement(copy.math, item.math) == 1.0
    assert mathsig.objection(copy, item, 0.8, True, lambda: False) is None
    assert "numbers disagree" in mathsig.objection(variant, item, 0.8, True, lambda: False)
    wrong_answer = mathsig.Signature.of(ITEMS[0], "17")
    assert "answers differ" in mathsig.objection(wrong_answer, item, 0.8, True, lambda: False)
    assert mathsig.objection(wrong_answer, item, 0.8, True, lambda: True) is None  # whole text inside
    assert mathsig.contains("Please: " + ITEMS[1], ITEMS[1])
    assert not mathsig.contains("x^8 + 98x^4 + 1 = p(x) q(x)", "x^8 - 98x^4 + 1 = p(x) q(x)")


@pytest.mark.parametrize(("a", "b", "differ"), [
    ("\\frac{1}{2}", "0.5", False), ("27.0", "27", False), ("025", "25", False), ("\\$18", "18", False),
    ("\\text{(B)}", "B", False), ("x=3", "3", False), ("276,000", "276000", False), ("\\dfrac12", "1/2", False),
    ("-\\frac{15}{2}", "-3", True), ("1,2,3", "123", True), ("even", "odd", True), (None, "5", False),
])
def test_answer_forms_compare_formats_not_values(a, b, differ):
    assert mathsig.answers_differ(mathsig.answer_form(a), mathsig.answer_form(b)) is differ
