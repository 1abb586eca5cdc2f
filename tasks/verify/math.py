"""Tasks layer (verify): is a response's final answer the reference answer?

Contract:
- `verify_answer(response, reference, answer_type=None, timeout_s=5.0) -> Verdict` never raises
  for bad model output (garbage, huge, pathological LaTeX): the Verdict says why it is not
  correct. It raises only for caller mistakes (an unknown `answer_type`, a reference of a type
  no answer can have). Safe to call from any thread; no I/O (math-verify runs in the worker
  processes of mvpool.py, code in the sandbox of code.py).
- `answers_equivalent(a, b)` compares two extracted answers (plurality votes, proxy labels);
  `canonical_answer(answer)` is their grouping key (see its docstring for what it does not merge).
Order of checks for math answers (answer_type None, "number", "expression", "set",
"interval"): option letters when the reference is one ("C", "(C)", "\\text{(C)}"); exact
numbers with a tolerance when both sides are plain numbers (decisive: "30%" is 30, "$1,000"
is 1000); identical canonical strings; then math-verify (fractions, radicals, intervals, sets,
matrices, equations), bounded by `timeout_s`; when math-verify can parse neither side,
normalised strings ("\\text{Evelyn}" vs "Evelyn").
"""

from __future__ import annotations

import re

from tasks.verify.code import run_code_tests
from tasks.verify.extract import (
    extract_answer,
    extract_choice,
    extract_code,
    extract_final_answer,
    last_boxed,
)
from tasks.verify.mvpool import get_pool
from tasks.verify.normalize import (
    choice_letter,
    clean_answer,
    normalize_latex,
    normalize_string,
    number_key,
    numbers_close,
    parse_number,
    strip_assignment,
)
from tasks.verify.verdict import ANSWER_TYPES, Verdict

MAX_MATH_VERIFY_CHARS = 4000  # longer "answers" are compared as strings only (no sympy on them)
EQUIVALENCE_TIMEOUT_S = 5.0
# "40_9" (a numeral in base 9): math-verify drops the subscript and would accept plain "40".
_BASE_NUMERAL = re.compile(r"[0-9A-Za-z]+_\{?\d+\}?")


def _base_key(text: str) -> str:
    return re.sub(r"[{}\s]", "", clean_answer(text)).upper()


def _reference_text(reference: object) -> str | None:
    """The reference answer as text: GSM8K rationales and boxed solutions are reduced to their
    final answer, numbers and lists normalised exactly as ingest does (27.0 -> "27")."""
    answer, _ = extract_answer(reference)  # raises TypeError for a dict or other odd type
    if not answer:
        return None
    return clean_answer(answer) or None


def _split_top_level(text: str) -> list[str]:
    """Split at commas that are not inside (), [] or {}."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _element_key(text: str) -> str:
    if "=" in text:  # "x=1" inside a list keeps its variable: "x=1,y=2" is not "x=2,y=1"
        return normalize_latex(text)
    number = parse_number(text)
    return number_key(number) if number is not None else normalize_latex(text)


def canonical_answer(answer: str) -> str:
    """A stable grouping key for an extracted answer (plurality votes, proxy labels).

    Same key for: numbers in any plain form ("0.5", "1/2", "\\dfrac{1}{2}", "$0.50" -> "1/2";
    "1,000" and "1000.0" -> "1000"), option letters ("(C)", "\\text{(C)}", "C" -> "C"),
    "x = 5" and "5", LaTeX spacing/\\left/\\right/\\dfrac variants, \\text{} wrappers, case of
    plain words, and the order of elements of a set ("\\{2,1\\}" and "1,2" -> "{1,2}").
    Limits: algebraically equal but differently written answers get different keys ("x+1" vs
    "1+x", "\\frac{\\sqrt2}{2}" vs "\\frac{1}{\\sqrt2}", "0.333333" vs "1/3" although they are
    within tolerance); merge such groups with `answers_equivalent` when that matters. Equal keys
    mean equivalent answers, up to the letter case of plain words ("Evelyn", "evelyn").
    """
    if not answer:
        return ""
    text = str(answer)
    if "\\boxed" in text or "\\fbox" in text:
        text = last_boxed(text) or text
    text = clean_answer(text)
    letter = choice_letter(text)
    if letter:
        return letter
    number = parse_number(text)
    if number is not None:
        return number_key(number)
    text = normalize_latex(strip_assignment(text))
    if text.startswith("\\{") and text.endswith("\\}"):
        return "{" + ",".join(sorted(_element_key(p) for p in _split_top_level(text[2:-2]))) + "}"
    parts = _split_top_level(text)
    if len(parts) > 1 and not text.startswith(("(", "[")):  # a bare list is compared as a set
        return "{" + ",".join(sorted(_element_key(p) for p in parts)) + "}"
    if len(parts) > 1:  # tuple or interval: order and brackets matter
        return text[0] + ",".join(_element_key(p) for p in _split_top_level(text[1:-1])) + text[-1]
    return text


def _math_verify(gold: str, pred: str, timeout_s: float, symmetric: bool = False) -> dict:
    if len(gold) > MAX_MATH_VERIFY_CHARS or len(pred) > MAX_MATH_VERIFY_CHARS:
        return {"status": "too_long"}
    return get_pool().check(gold, pred, timeout_s, symmetric=symmetric)


def _choice_verdict(response: str, reference: str) -> Verdict:
    expected = choice_letter(reference, loose=True)
    got = extract_choice(response)
    if expected is None:
        return Verdict(False, got, "choice", "error: reference is not an option letter")
    if got is None:
        return Verdict(False, None, "choice", "no_answer")
    return Verdict(got == expected, got, "choice", None if got == expected else "mismatch")


def _math_verdict(extracted: str, reference: str, timeout_s: float) -> Verdict:
    if _BASE_NUMERAL.fullmatch(_base_key(reference)):
        same = _base_key(extracted) == _base_key(reference)
        return Verdict(same, extracted, "string", None if same else "mismatch")
    expected_number, got_number = parse_number(reference), parse_number(extracted)
    if expected_number is not None and got_number is not None:
        same = numbers_close(expected_number, got_number)
        return Verdict(same, extracted, "numeric", None if same else "mismatch")
    if canonical_answer(extracted) == canonical_answer(reference):
        return Verdict(True, extracted, "string")
    reply = _math_verify(reference, extracted, timeout_s)
    status = reply.get("status")
    if status == "ok":
        return Verdict(reply["equal"], extracted, "math_verify", None if reply["equal"] else "mismatch")
    if status in ("unparsed", "too_long"):
        same = normalize_string(extracted) == normalize_string(reference)
        return Verdict(same, extracted, "string", None if same else "mismatch")
    if status == "timeout":
        return Verdict(False, extracted, "math_verify", "timeout")
    return Verdict(False, extracted, "math_verify", f"error: {reply.get('error', status)}")


def verify_answer(
    response: str, reference: str, answer_type: str | None = None, *, timeout_s: float = 5.0
) -> Verdict:
    """Check `response` (a model output or reference solution) against `reference`.

    `answer_type`: None (auto: option letters if the reference is one, else math), "number",
    "expression", "set", "interval", "choice", "string" (normalised text equality) or "code"
    (`reference` is test code run against the program in the response; for HumanEval-style
    `check(candidate)` tests use `run_code_tests` with the entry point).
    """
    if answer_type is not None and answer_type not in ANSWER_TYPES:
        raise ValueError(f"unknown answer_type {answer_type!r}; expected one of {ANSWER_TYPES}")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    if answer_type == "code":
        return run_code_tests(extract_code(response), reference if isinstance(reference, str) else "",
                              timeout_s=timeout_s)
    expected = _reference_text(reference)
    if not isinstance(response, str):
        response = ""
    try:
        if expected is None:
            return Verdict(False, extract_final_answer(response), "none", "no_reference")
        if answer_type == "choice" or (answer_type is None and choice_letter(expected)):
            return _choice_verdict(response, expected)
        extracted = extract_final_answer(response)
        if extracted is None:
            return Verdict(False, None, "none", "no_answer")
        if answer_type == "string":
            same = normalize_string(extracted) == normalize_string(expected)
            return Verdict(same, extracted, "string", None if same else "mismatch")
        return _math_verdict(extracted, expected, timeout_s)  # number/expression/set/interval alike
    except Exception as error:  # a checker bug on odd input must not stop a whole batch
        return Verdict(False, None, "none", f"error: {type(error).__name__}: {error}"[:300])


def answers_equivalent(a: str, b: str, timeout_s: float = EQUIVALENCE_TIMEOUT_S) -> bool:
    """Whether two extracted answers mean the same (symmetric; False when either is empty).

    Same checks as `verify_answer` (letters, numbers with tolerance, canonical strings,
    math-verify in both directions, normalised strings when math-verify parses neither side).
    math-verify gets `timeout_s` per direction; running out of time means not provably equivalent.
    """
    try:
        if not a or not b or not isinstance(a, str) or not isinstance(b, str):
            return False
        if canonical_answer(a) == canonical_answer(b):
            return True
        letter_a, letter_b = choice_letter(a), choice_letter(b)
        if letter_a or letter_b:
            return letter_a == letter_b
        number_a, number_b = parse_number(a), parse_number(b)
        if number_a is not None and number_b is not None:
            return numbers_close(number_a, number_b)
        reply = _math_verify(a, b, timeout_s, symmetric=True)
        if reply.get("status") == "ok":
            return bool(reply["equal"])
        if reply.get("status") in ("unparsed", "too_long"):
            return normalize_string(a) == normalize_string(b)
        return False
    except Exception:  # odd input: not provably equivalent
        return False
