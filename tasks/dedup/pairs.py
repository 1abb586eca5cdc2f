"""Tasks layer (dedup): verify candidate pairs (number guard, exact Jaccard, answers).

LSH only proposes pairs. A pair becomes a duplicate edge when, unless the settings allow it,
both texts hold the same numbers (a problem with other numbers is another problem: checked on
the number hashes computed while signing, before any text is touched), the exact Jaccard
similarity of the two shingle sets reaches the threshold, and (answer-aware, the default) the
two reference answers are not both present and different: "sum" vs "product" of the roots are
near-identical texts but different problems, and their answers tell. Jaccard is computed on
the shingle sets kept from signing, all pairs in one compiled pass (`kernels`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import ast
import math
import re
import threading

import numpy as np

from tasks.dedup.kernels import jaccard_of_pairs
from tasks.dedup.shingles import ShingleKind, shingle, shingle_sets
from tasks.verify import answers_equivalent, canonical_answer


def score_pairs(texts: list[str], pairs: np.ndarray, kind: ShingleKind, n: int) -> np.ndarray:
    """Exact Jaccard of each (i, j) row of `pairs`, indices into `texts`."""
    sets = shingle_sets(shingle(texts, kind, n))
    return jaccard_of_pairs(sets.values, sets.offsets, pairs)


def jaccard(a: str, b: str, kind: ShingleKind, n: int) -> float:
    return float(score_pairs([a, b], np.array([[0, 1]]), kind, n)[0])


@dataclass
class Verified:
    edges: np.ndarray  # (k x 2) global ids
    similarity: np.ndarray  # float64 per edge
    rejected: Counter = field(default_factory=Counter)  # why candidate pairs were not edges


def number_guard(pairs: np.ndarray, numbers: np.ndarray, rejected: Counter) -> np.ndarray:
    """The pairs whose two texts hold the same numbers (`numbers` indexed by global id)."""
    same = numbers[pairs[:, 0]] == numbers[pairs[:, 1]]
    rejected["numbers_differ"] += int((~same).sum())
    return pairs[same]


def keep_similar(
    scored: Iterable[tuple[np.ndarray, np.ndarray]], threshold: float, rejected: Counter
) -> Verified:
    """Collect (pairs, jaccard) chunks into the edges at or above the threshold."""
    edges, sims = [np.zeros((0, 2), np.int64)], [np.zeros(0)]
    for chunk, similarity in scored:
        ok = similarity >= threshold
        rejected["below_threshold"] += int((~ok).sum())
        edges.append(chunk[ok])
        sims.append(similarity[ok])
    return Verified(np.concatenate(edges), np.concatenate(sims), rejected)


_LATEX = [(re.compile(p), r) for p, r in (
    (r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))"), (r"\\[dt]?frac\{([^{}]*)\}(\d)", r"((\1)/\2)"),
    (r"\\[dt]?frac(\d)(\d)", r"(\1/\2)"), (r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)"),
    (r"\\sqrt(\d)", r"sqrt(\1)"), (r"\\pi", "pi"), (r"\\(cdot|times)", "*"), (r"\^\{([^{}]*)\}", r"**(\1)"),
    (r"\^(?!\{)", "**"),
)]
_IMPLICIT = re.compile(r"(?<=[\d)i])\s*(?=[(sp])")  # 2sqrt(3), 2pi, )( -> explicit products
_BINARY = {ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y, ast.Mult: lambda x, y: x * y,
           ast.Div: lambda x, y: x / y}


def _evaluate(node: ast.AST) -> float:
    """Floats only, a bounded power: no Python eval of answer text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id == "pi":
        return math.pi
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sqrt" and len(node.args) == 1:
        return math.sqrt(_evaluate(node.args[0]))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        base, exponent = _evaluate(node.left), _evaluate(node.right)
        if abs(exponent) > 64:
            raise ValueError("power too large")
        return math.pow(base, exponent)
    raise ValueError("not a plain number")


def numeric_value(answer: str) -> float | None:
    """The value of a plain numeric answer in simple LaTeX (fractions, roots, pi), or None:
    decides most answer pairs without a math-verify round trip; the rest go to tasks.verify."""
    text = canonical_answer(answer)
    for _ in range(3):  # nested \\frac{\\sqrt{2}}{2}: inner groups first
        for pattern, repl in _LATEX:
            text = pattern.sub(repl, text)
    text = _IMPLICIT.sub("*", text.replace(" ", "").replace("{", "(").replace("}", ")"))
    if len(text) > 60 or not re.fullmatch(r"[\d.+\-*/()a-z]*", text) or re.search(r"[a-z]", re.sub(r"sqrt|pi", "", text)):
        return None
    try:
        value = _evaluate(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError, RecursionError):
        return None
    return value if math.isfinite(value) else None


# math-verify rarely needs more for short reference answers; a pair it cannot settle in this
# time is kept apart (not provably the same answer), and one such pair must not stall a run.
EQUIVALENCE_TIMEOUT_S = 1.0
_BRACKETED = re.compile(r"^\\?(?:\\left)?\s*([\[(])(.*?)\\?(?:\\right)?\s*([\])])$", re.S)


def numeric_tuple(answer: str) -> tuple[str, list[float]] | None:
    """(brackets, values) of an interval or tuple of plain numbers such as `[-3, -1]` or
    `(2, 3)`; None for anything else (a lone number, a union, a symbol inside)."""
    found = _BRACKETED.match(canonical_answer(answer).replace(" ", ""))
    if not found or "," not in found.group(2) or "(" in found.group(2) or "[" in found.group(2):
        return None
    values = [numeric_value(part) for part in found.group(2).split(",")]
    if any(value is None for value in values):
        return None
    return found.group(1) + found.group(3), values


def _is_set(answer: str) -> bool:
    return "\\infty" in answer or "\\cup" in answer


def _quick_verdict(a: str, b: str) -> bool | None:
    """Equivalence decided from shapes, without math-verify: two LaTeX values that evaluate
    here, two numeric tuples, or a number against a tuple (never the same). None when the
    shapes do not tell (plain numbers go to tasks.verify, with its own tolerance)."""
    if _is_set(a) != _is_set(b):  # an interval or union against a single value or a tuple
        return False
    tx, ty = numeric_tuple(a), numeric_tuple(b)
    if tx is not None and ty is not None:
        return tx[0] == ty[0] and len(tx[1]) == len(ty[1]) and all(
            math.isclose(p, q, rel_tol=1e-6, abs_tol=1e-9) for p, q in zip(tx[1], ty[1]))
    x = numeric_value(a) if ty is not None or "\\" in a + b or "^" in a + b else None
    y = numeric_value(b) if tx is not None or "\\" in a + b or "^" in a + b else None
    if (x is not None and ty is not None) or (tx is not None and y is not None):
        return False
    if x is not None and y is not None:
        return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9)
    return None


def _equivalent(a: str, b: str) -> bool:
    """LaTeX values and numeric tuples that evaluate here skip the math-verify round trip;
    the rest go to tasks.verify with a short time limit."""
    quick = _quick_verdict(a, b)
    return quick if quick is not None else answers_equivalent(a, b, EQUIVALENCE_TIMEOUT_S)


class AnswerCheck:
    """Whether two reference answers rule a merge out: both present and not equivalent
    (tasks.verify: numbers, canonical forms, math-verify, else normalised strings). Verdicts
    are cached per answer pair (template families repeat the same few answers) and computed a
    batch at a time in threads: math-verify runs in a pool of worker processes."""

    def __init__(self, threads: int = 4) -> None:
        self._seen: dict[tuple[str, str], bool] = {}
        self.threads = threads

    @staticmethod
    def warm_up_in_background(workers: int = 2) -> None:
        """Start math-verify workers (each imports sympy, about a second) while the caller
        signs and pairs, so the first answer checks do not wait for them."""
        for _ in range(workers):
            threading.Thread(target=answers_equivalent, args=("x+1", "1+x"), daemon=True).start()

    @staticmethod
    def _key(a: str | None, b: str | None) -> tuple[str, str] | None:
        a, b = (a or "").strip(), (b or "").strip()
        if not a or not b or a == b:
            return None
        return (a, b) if a < b else (b, a)

    def prepare(self, pairs: list[tuple[str | None, str | None]]) -> None:
        todo = list({k for a, b in pairs if (k := self._key(a, b)) is not None and k not in self._seen})
        if not todo:
            return
        with ThreadPoolExecutor(self.threads) as pool:
            for key, same in zip(todo, pool.map(lambda k: _equivalent(*k), todo)):
                self._seen[key] = not same

    def differ(self, a: str | None, b: str | None) -> bool:
        key = self._key(a, b)
        if key is None:
            return False
        if key not in self._seen:
            self._seen[key] = not _equivalent(*key)
        return self._seen[key]


def answer_guard(
    verified: Verified, answers_of: Callable[[np.ndarray], list[str | None]], rejected: Counter,
    check: AnswerCheck,
) -> Verified:
    """The verified edges whose two prompts do not have different reference answers."""
    if not len(verified.edges):
        return verified
    ids, local = np.unique(verified.edges, return_inverse=True)
    answers = answers_of(ids)
    local = local.reshape(-1, 2).tolist()
    check.prepare([(answers[a], answers[b]) for a, b in local])
    ok = np.array([not check.differ(answers[a], answers[b]) for a, b in local], bool)
    rejected["answers_differ"] += int((~ok).sum())
    return Verified(verified.edges[ok], verified.similarity[ok], rejected)
