"""Answer-aware near-duplicate verification: near-identical texts whose reference answers are
both present and not equivalent are different problems ("sum" vs "product" of the roots) and
are not merged; the reason is counted. Real warehouse, real tasks.verify equivalence."""

from collections import Counter

import numpy as np
import pytest

from tasks.dedup.pairs import AnswerCheck, Verified, answer_guard
from tests.tasks.test_dedup_stage import add, dedup, duplicates

ROOTS = ("Let r and s be the two roots of the quadratic equation $x^2 - 5x + 6 = 0$ over the real "
         "numbers. Compute the {what} of the roots r and s, and give your answer as an integer.")
BALLS = ("How many ways are there to put 5 balls in 2 boxes if the balls are {what} and the boxes "
         "are distinguishable, and every box may also stay empty?")


def test_answer_check_uses_math_equivalence():
    check = AnswerCheck()
    assert not check.differ("\\frac{1}{2}", "0.5") and not check.differ("1/2", "\\frac12")
    assert check.differ("5", "6") and check.differ("\\arcsin 1", "-\\frac{\\pi}{2}")
    assert not check.differ(None, "6") and not check.differ("  ", "6")  # absent: today's rule


def test_answer_guard_drops_edges_and_counts_them():
    rejected = Counter()
    edges = np.array([[0, 1], [0, 2], [1, 3]], np.int64)
    answers = {0: "5", 1: "5.0", 2: "6", 3: None}
    out = answer_guard(Verified(edges, np.array([0.9, 0.8, 0.7])), lambda ids: [answers[i] for i in ids.tolist()],
                       rejected, AnswerCheck())
    assert out.edges.tolist() == [[0, 1], [1, 3]] and out.similarity.tolist() == [0.9, 0.7]
    assert rejected == {"answers_differ": 1}


def test_different_answers_are_not_merged(lake, tmp_path):
    ids = add(lake, tmp_path, "math", [
        {"problem": ROOTS.format(what="sum"), "answer": "5"},
        {"problem": ROOTS.format(what="product"), "answer": "6"},
        {"problem": BALLS.format(what="distinguishable"), "answer": "32"},
        {"problem": BALLS.format(what="indistinguishable"), "answer": "6"},
        {"problem": "Please " + ROOTS.format(what="sum"), "answer": "5.0"},  # same answer: a duplicate
        {"problem": BALLS.format(what="indistinguishable") + " Explain."},  # no answer: today's rule
    ])
    report = dedup(lake)
    assert report.rejected["answers_differ"] >= 2
    found = duplicates(lake)
    assert set(found) == {ids[4], ids[5]}
    assert found[ids[4]][:2] == (ids[0], "minhash")
    assert found[ids[5]][0] in (ids[2], ids[3])  # no answer of its own: may join either
    assert report.kept == 4


def test_answer_aware_off_merges_as_before(lake, tmp_path):
    ids = add(lake, tmp_path, "math", [
        {"problem": ROOTS.format(what="sum"), "answer": "5"},
        {"problem": ROOTS.format(what="product"), "answer": "6"},
    ])
    report = dedup(lake, answer_aware=False)
    assert duplicates(lake)[ids[1]][:2] == (ids[0], "minhash")
    assert "answers_differ" not in report.rejected


def test_a_cluster_joined_through_a_prompt_without_answer_keeps_both_answers(lake, tmp_path):
    words = ROOTS.format(what="sum").split(" ")
    middle = " ".join(words[:10] + ["real"] + words[10:])  # one word from each end
    far = " ".join(words[:10] + ["real"] + words[10:]).replace("sum", "product")
    ids = add(lake, tmp_path, "math", [
        {"problem": ROOTS.format(what="sum"), "answer": "5"},
        {"problem": middle},
        {"problem": far, "answer": "6"},
    ])
    report = dedup(lake)
    found = duplicates(lake)
    assert ids[2] not in found and found[ids[1]][0] == ids[0]
    assert report.rejected["answers_differ"] + report.rejected["answers_differ_in_cluster"] >= 1


def test_incremental_pool_prompt_with_another_answer_is_kept(lake, tmp_path):
    first = add(lake, tmp_path, "math", [{"problem": ROOTS.format(what="sum"), "answer": "5"}])
    dedup(lake)
    later = add(lake, tmp_path, "math", [
        {"problem": ROOTS.format(what="product"), "answer": "6"},
        {"problem": ROOTS.format(what="sum") + " Show work.", "answer": "5"},
    ])
    report = dedup(lake)
    found = duplicates(lake)
    assert later[0] not in found and found[later[1]][0] == first[0]
    assert report.pool_before == 1 and report.rejected["answers_differ"] >= 1


def test_simple_latex_values_are_decided_without_math_verify(monkeypatch):
    import tasks.dedup.pairs as pairs

    assert pairs.numeric_value("-\\frac{\\sqrt{2}}{2}") == pytest.approx(-(2**0.5) / 2)
    assert pairs.numeric_value("2\\pi") == pytest.approx(6.283185307)
    for unknown in ("x+1", "(1,2)", "10^{10^{10}}", "\\text{Evelyn}", "e^2"):
        assert pairs.numeric_value(unknown) is None
    monkeypatch.setattr(pairs, "answers_equivalent", lambda a, b: pytest.fail(f"math-verify asked for {a}, {b}"))
    check = AnswerCheck()
    assert not check.differ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}") and check.differ("\\frac{\\pi}{2}", "\\frac{\\pi}{3}")
