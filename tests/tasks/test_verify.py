"""Answer extraction and verification on hand-made responses (tasks layer, no Prefect)."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tasks.verify import (
    Verdict,
    answers_equivalent,
    canonical_answer,
    extract_choice,
    extract_code,
    extract_final_answer,
    verify_answer,
)
from tasks.verify.extract import extract_with_source
from tasks.verify.mvpool import GRACE_S, MathVerifyPool
from tasks.verify.normalize import parse_number


# --- extraction -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("response", "expected", "source"),
    [
        (r"First \boxed{1}. So the answer is $\boxed{\frac{1}{\sqrt{2}}}$.", r"\frac{1}{\sqrt{2}}", "boxed"),
        (r"We get \fbox{12}.", "12", "boxed"),
        (r"Hence $\boxed{\text{(C)}}$", r"\text{(C)}", "boxed"),
        (r"so \boxed{\left( 1, 2 \right]}.", r"\left( 1, 2 \right]", "boxed"),
        (r"\boxed{x = 5}", "x = 5", "boxed"),
        ("The answer is 3.5.", "3.5", "phrase"),
        ("The answer is 3. So we are done.", "3", "phrase"),
        ("Thus the final answer is: **1,000**.", "1,000", "phrase"),
        ("Final answer: x = 5", "x = 5", "phrase"),
        (r"The answer is $\dfrac{3}{4}$ of the cake.", r"\dfrac{3}{4}", "phrase"),
        ("**Final Answer**\n\n42 apples", "42 apples", "phrase"),
        ("Answer: $18 dollars", "$18 dollars", "phrase"),
        ("The answer is 5!", "5!", "phrase"),  # a factorial keeps its "!"
        ("The final answer is 12. Checking the answer: yes.", "12", "phrase"),
        ("Answer: 3. Hmm, the final answer is 4.", "4", "phrase"),
        ("She pays 5 * 2 = <<5*2=10>>10.\n#### 1,250", "1250", "hashes"),
        ("#### -7\nextra text", "-7", "hashes"),
        ("She has 3 cats and 12.5 dogs.", "12.5", "number"),
        ("In total 1,000 people came, 30% of them twice.", "30", "number"),
        (r"so the share is \frac{3}{4}", r"\frac{3}{4}", "number"),
        ("it went down to -4 degrees", "-4", "number"),
        (r"\boxed{unclosed, but 7 is mentioned", "7", "number"),
        ("<think>maybe \\boxed{3}</think>The answer is 4.", "4", "phrase"),
        ("<think>\\boxed{3}</think>  ", "3", "boxed"),  # nothing after </think>: use all of it
    ],
)
def test_extraction_forms(response, expected, source):
    assert extract_with_source(response) == (expected, source)
    assert extract_final_answer(response) == expected


@pytest.mark.parametrize("response", ["", "   ", "I do not know.", "no digits here at all", None, 42])
def test_nothing_found(response):
    assert extract_final_answer(response) is None


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        (r"$\boxed{\text{(C)}}$", "C"),
        (r"\boxed{B}", "B"),
        ("(D)", "D"),
        ("**A**", "A"),
        ("I think the answer is (B) 42.", "B"),
        ("The answer is C.", "C"),
        ("Answer: E", "E"),
        ("After checking, option D fits best.", "D"),
        ("Options (A) and (B) fail, so (C).", "C"),
        ("No letter anywhere.", None),
        ("A number of cases remain.", None),
    ],
)
def test_choice_letters(response, letter):
    assert extract_choice(response) == letter


def test_code_extraction_prefers_last_python_block():
    response = "Draft:\n```python\nx = 1\n```\nFinal:\n```python\nx = 2\n```\n```text\nout\n```"
    assert extract_code(response) == "x = 2\n"
    assert extract_code("```python\nunterminated = 1\n") == "unterminated = 1\n"
    assert extract_code("def f(): pass") == "def f(): pass"


# --- verification -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("response", "reference"),
    [
        ("The answer is 1,000.", "1000"),
        (r"Total: \boxed{\$18.00}", "18"),
        ("The answer is 30%.", "30"),
        (r"\boxed{30\%}", "30"),
        ("Answer: 18 dollars.", "18"),
        (r"\boxed{5.4 \text{ cents}}", "5.4"),
        (r"\boxed{90^\circ}", "90"),
        (r"\boxed{x = 5}", "5"),
        (r"\boxed{\dfrac{1}{2}}", "0.5"),
        (r"\boxed{\frac12}", r"\frac{1}{2}"),
        ("#### 1,250", "1250"),
        ("The answer is 27", 27.0),  # AMC references are floats
        ("The answer is 3.0000001", "3"),  # inside the relative 1e-6 tolerance
        (r"\boxed{11,\! 111,\! 111,\! 100}", "11111111100"),
    ],
)
def test_numeric_answers(response, reference):
    verdict = verify_answer(response, reference)
    assert verdict.correct, verdict
    assert verdict.method == "numeric"


@pytest.mark.parametrize(("response", "reference"), [("The answer is 3.001", "3"), (r"\boxed{-5}", "5"),
                                                      ("#### 1250", "125"), (r"\boxed{\frac{1}{3}}", "0.33")])
def test_numeric_mismatch(response, reference):
    expected = Verdict(False, extract_final_answer(response), "numeric", "mismatch")
    assert verify_answer(response, reference) == expected


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        (r"\boxed{\left( 1, 2 \right]}", "(1,2]", True),
        (r"\boxed{[1, 2]}", "(1,2]", False),
        (r"\boxed{(-\infty, 3) \cup (4, \infty)}", r"(-\infty,3)\cup(4,\infty)", True),
        (r"\boxed{\{3, 1, 2\}}", r"\{1,2,3\}", True),
        (r"\boxed{1, 2}", r"\{2, 1\}", True),
        (r"\boxed{\{1, 2\}}", r"\{1, 3\}", False),
        (r"\boxed{\sqrt{8}}", r"2\sqrt{2}", True),
        (r"\boxed{\sqrt{8}}", r"3\sqrt{2}", False),
        (r"\boxed{(x+1)^2}", "x^2+2x+1", True),
        (r"\boxed{\frac{\sqrt{2}}{2}}", r"\frac{1}{\sqrt{2}}", True),
        (r"\boxed{\begin{pmatrix} 1 \\ 2 \end{pmatrix}}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", True),
        (r"\boxed{y = 2x + 3}", "y=2x+3", True),
        (r"\boxed{\text{Evelyn}}", r"\text{Evelyn}", True),
        (r"\boxed{\pi}", r"3.14", False),
        (r"\boxed{40_{9}}", "40_9", True),
        (r"\boxed{40}", "40_9", False),  # a base-9 numeral is not the decimal 40
        (r"\boxed{1A_{16}}", "1a_16", True),
    ],
)
def test_math_answers(response, reference, correct):
    verdict = verify_answer(response, reference)
    assert verdict.correct is correct, verdict
    assert verdict.method in ("math_verify", "string", "numeric")
    assert (verdict.reason is None) is correct


@pytest.mark.parametrize(
    ("response", "reference", "correct"),
    [
        (r"so $\boxed{\text{(C)}}$", r"\text{(C)}", True),
        ("The answer is (B).", "B", True),
        ("I think the answer is C", "(C)", True),
        ("Answer: (B) 42", "B", True),
        (r"\boxed{D}", "(C)", False),
    ],
)
def test_choice_verification(response, reference, correct):
    verdict = verify_answer(response, reference)
    assert verdict.method == "choice"
    assert verdict.correct is correct


def test_explicit_types():
    assert verify_answer("I pick option D.", "D", "choice").correct
    monday = verify_answer(r"\boxed{\text{Monday}}", "monday", "string")
    assert monday == Verdict(True, r"\text{Monday}", "string")
    assert verify_answer(r"\boxed{\text{Tuesday}}", "Monday", "string").reason == "mismatch"
    assert verify_answer(r"\boxed{\sqrt{16}}", "4", "number").correct
    assert verify_answer(r"\boxed{[2, 3)}", "[2,3)", "interval").correct
    assert verify_answer(r"\boxed{\{1,2\}}", r"\{2,1\}", "set").correct
    with pytest.raises(ValueError):
        verify_answer("1", "1", "integer")


def test_references_in_their_raw_forms():
    assert verify_answer("The answer is 1250.", "She pays <<5*2=10>>10.\n#### 1,250").correct
    assert verify_answer("so 5", r"Solution text ... hence $\boxed{5}$.").correct
    assert verify_answer("The answer is 3, 5.", ["3", "5"]).correct  # OlympiadBench lists


def test_no_answer_and_no_reference():
    assert verify_answer("I give up.", "5") == Verdict(False, None, "none", "no_answer")
    assert verify_answer("", "5").reason == "no_answer"
    assert verify_answer(None, "5").reason == "no_answer"
    assert verify_answer("The answer is 5", "  ").reason == "no_reference"
    assert verify_answer("The answer is 5", None).reason == "no_reference"


def test_garbage_and_huge_input_do_not_hang():
    cases = [
        "{" * 200_000,
        "\\boxed{" * 50_000,
        "1," * 300_000,
        "The answer is " * 50_000,
        "x" * 1_000_000 + " 7",
        "$" * 100_000,
        "\\frac{" * 30_000 + "1" + "}{2}" * 30_000,
        "\x00\udcff garbage \ufffd",
    ]
    for response in cases:
        start = time.monotonic()
        verdict = verify_answer(response, "7", timeout_s=2)
        assert isinstance(verdict, Verdict)
        assert time.monotonic() - start < 10, response[:40]


def test_pathological_latex_times_out_instead_of_hanging():
    start = time.monotonic()
    verdict = verify_answer(r"\boxed{9^{9^{9^{9}}}}", "5", timeout_s=1)
    assert verdict == Verdict(False, "9^{9^{9^{9}}}", "math_verify", "timeout")
    assert time.monotonic() - start < 8
    assert verify_answer(r"\boxed{\sqrt{8}}", r"2\sqrt{2}").correct  # the pool recovered


def test_stuck_worker_is_killed_and_replaced():
    """A worker that does not answer (stuck in C code; here: stopped) is SIGKILLed after the
    timeout plus a grace period, and the next call gets a fresh worker."""
    pool = MathVerifyPool(max_workers=1)
    try:
        assert pool.check("1", "1", 2.0) == {"status": "ok", "equal": True}
        stuck = pool._idle[0]
        os.kill(stuck.proc.pid, signal.SIGSTOP)
        start = time.monotonic()
        assert pool.check("2", "2", 0.5)["status"] == "timeout"
        assert time.monotonic() - start < 0.5 + GRACE_S + 2
        assert stuck.proc.poll() is not None
        assert pool.check("2", r"\frac{4}{2}", 2.0) == {"status": "ok", "equal": True}
        os.kill(pool._idle[0].proc.pid, signal.SIGKILL)  # dies while idle: replaced silently
        pool._idle[0].proc.wait()
        assert pool.check("3", "3", 2.0)["status"] == "ok"
        assert pool.started == 3
    finally:
        pool.close()


def test_safe_from_threads():
    jobs = [(r"\boxed{\sqrt{8}}", r"2\sqrt{2}", True), (r"\boxed{(x+1)^2}", "x^2+2x+1", True),
            (r"\boxed{\frac{2}{3}}", r"\frac{4}{6}", True), (r"\boxed{\sqrt{3}}", r"\sqrt{2}", False)] * 6
    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(lambda job: verify_answer(job[0], job[1]), jobs))
        slow = pool.submit(verify_answer, r"\boxed{10^{10^{10}}}", "7", timeout_s=1).result(timeout=30)
    assert [v.correct for v in verdicts] == [job[2] for job in jobs]
    assert slow.reason == "timeout"


# --- equivalence and grouping keys ------------------------------------------------------------

def test_canonical_keys_group_equal_answers():
    assert {canonical_answer(a) for a in ["0.5", "1/2", r"\dfrac{1}{2}", r"\frac12", "$0.50"]} == {"1/2"}
    assert {canonical_answer(a) for a in ["1,000", "1000.0", r"\boxed{1000}", "x = 1000"]} == {"1000"}
    assert {canonical_answer(a) for a in ["(C)", r"\text{(C)}", "C", "**C**"]} == {"C"}
    assert canonical_answer(r"\{2, 1\}") == canonical_answer("1,2")
    assert canonical_answer(r"\left( 3, \frac{\pi}{2} \right)") == canonical_answer(r"(3,\dfrac{\pi}{2})")
    assert canonical_answer("(1,2)") != canonical_answer("(2,1)")  # tuples keep their order
    assert canonical_answer("x=1, y=2") != canonical_answer("x=2, y=1")
    assert canonical_answer("") == ""


def test_answers_equivalent():
    assert answers_equivalent("0.5", r"\frac{1}{2}")
    assert answers_equivalent(r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}")
    assert answers_equivalent("x+1", "1+x")
    assert canonical_answer("x+1") != canonical_answer("1+x")  # a documented limit of the keys
    assert answers_equivalent("(C)", r"\text{(C)}")
    assert not answers_equivalent("C", "D")
    assert not answers_equivalent("3", "4")
    assert not answers_equivalent("", "4") and not answers_equivalent(None, None)
    assert answers_equivalent(r"\text{Evelyn}", "evelyn")


def test_parse_number_refuses_value_changing_words():
    assert parse_number("2 thousand") is None
    assert parse_number("10 pi") is None
    assert parse_number("40_9") is None  # base-9 subscript: not the decimal number 40
    assert parse_number("1e999999999") is None  # no exponent forms: never builds huge ints
    assert parse_number("-$5") == -5
