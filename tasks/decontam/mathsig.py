"""Tasks layer (decontam): the mathematics of a problem, for agreement checks.

A copy of a benchmark problem keeps its numbers and its answer, however it is worded; a
template variant of it (same sentence, other numbers) does not. Every layer therefore checks
a candidate pair's number agreement before flagging it, and the embedding layer weighs
shared numbers and answers by rarity (IDF over the benchmark items) to pick the pairs worth
comparing. Asymptote code is left out: its coordinates are not the problem's numbers.
Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

_ASY = re.compile(r"\[asy\].*?(?:\[/asy\]|$)", re.DOTALL | re.IGNORECASE)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
               "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000",
               "twice": "2", "double": "2", "triple": "3", "half": "2", "dozen": "12"})
del _WORDS["one"]  # "no one", "one of": far more often a pronoun than the number
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.IGNORECASE)
_COMMAND = re.compile(r"\\[a-zA-Z]+")
_SAME = {"\\dfrac": "\\frac", "\\tfrac": "\\frac", "\\cfrac": "\\frac", "\\dbinom": "\\binom",
         "\\tbinom": "\\binom", "\\le": "\\leq", "\\ge": "\\geq", "\\ne": "\\neq"}
_LAYOUT = frozenset({"\\left", "\\right", "\\displaystyle", "\\text", "\\textbf", "\\mathrm",
                     "\\mathbf", "\\quad", "\\qquad", "\\mbox", "\\textit", "\\emph", "\\big",
                     "\\Big", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\limits", "\\hspace",
                     "\\textnormal", "\\operatorname", "\\mathit", "\\textstyle", "\\noindent"})
_ANSWER_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_ANSWER_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}|\\[dt]?frac(\d)(\d)")
_ANSWER_NOISE = re.compile(r"\\(?:left|right|displaystyle|!|,|;|:|\$)|\^\s*\{?\\circ\}?|\\%|%|°|\$|\\\s|\s+|[{}]")
_LABEL = re.compile(r"^[a-z]\s*=\s*(?=[^=]+$)")
_GROUPED = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_FRACTION = re.compile(r"(-?)(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)")


@lru_cache(maxsize=65536)  # a pool repeats few distinct numbers; the embedding layer asks per prompt
def canonical_number(text: str) -> str:
    """'025' -> '25', '2.50' -> '2.5', '3.0' -> '3'."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    text = text.lstrip("0")
    return text if text and not text.startswith(".") else "0" + text if text else "0"


def math_tokens(text: str) -> Counter:
    """The mathematics of the prose as a multiset: numbers (digits and number words) and LaTeX
    commands (\\frac, \\sin, ...), Asymptote code excluded."""
    if "[asy]" in text or "[ASY]" in text:
        text = _ASY.sub(" ", text)
    text = _THOUSANDS.sub("", text)
    found = Counter(canonical_number(n) for n in _NUMBER.findall(text))
    found.update(_WORDS[w.lower()] for w in _WORD.findall(text))
    found.update(_SAME.get(c, c) for c in map(str.lower, _COMMAND.findall(text)) if c not in _LAYOUT)
    return found


def answer_form(answer: str | None) -> str | None:
    """A comparable form of a final answer: \\frac{1}{2} -> 1/2, 27.0 -> 27, \\text{(A)} -> a."""
    if answer is None:
        return None
    text = _ANSWER_TEXT.sub(r"\1", answer.strip())
    text = _ANSWER_FRAC.sub(lambda m: f"({m.group(1) or m.group(3)})/({m.group(2) or m.group(4)})", text)
    text = _ANSWER_NOISE.sub("", text).lower().rstrip(".")
    text = re.sub(r"\((-?[\w.]+)\)", r"\1", text)  # (3)/(4) -> 3/4, (a) -> a
    text = _LABEL.sub("", text)
    if _GROUPED.fullmatch(text):
        text = text.replace(",", "")
    if _NUMBER.fullmatch(text.lstrip("-")):
        sign = "-" if text.startswith("-") else ""
        text = sign + canonical_number(text.lstrip("-"))
    return text or None


def answer_value(canonical: str) -> float | None:
    """The number a canonical answer denotes, when it is a plain number or fraction."""
    try:
        return float(canonical)
    except ValueError:
        pass
    match = _FRACTION.fullmatch(canonical)
    if match and float(match.group(3)) != 0:
        value = float(match.group(2)) / float(match.group(3))
        return -value if match.group(1) else value
    return None


def answers_differ(prompt_answer: str | None, item_answer: str | None) -> bool:
    """Both answers known and not the same (numerically, when both are numbers)."""
    if not prompt_answer or not item_answer:
        return False
    a, b = answer_value(prompt_answer), answer_value(item_answer)
    if a is not None and b is not None:
        return abs(a - b) > 1e-6 * max(1.0, abs(a), abs(b))
    return prompt_answer != item_answer


def agreement(prompt: Counter, item: Counter) -> float | None:
    """Shared tokens / tokens of the side with fewer (multisets); None when a side has none."""
    fewer = min(sum(prompt.values()), sum(item.values()))
    if fewer == 0:
        return None
    return sum((prompt & item).values()) / fewer


@dataclass
class Rarity:
    """IDF of numbers and answers over the benchmark items: how telling a shared one is."""

    number_idf: dict[str, float]
    answer_idf: dict[str, float]
    default: float

    @classmethod
    def of(cls, item_numbers: list[Counter], item_answers: list[str | None]) -> "Rarity":
        # A few items cannot tell common numbers from rare ones: rate them as if among 1000.
        total = max(len(item_numbers), 1000)
        counts = Counter(n for ns in item_numbers for n in ns)
        answers = Counter(a for a in item_answers if a)
        idf = lambda df: math.log((total + 1) / (df + 1))  # noqa: E731 - one formula, two uses
        return cls({n: idf(c) for n, c in counts.items()}, {a: idf(c) for a, c in answers.items()},
                   math.log(total + 1))

    def numbers_info(self, shared) -> float:
        return sum(self.number_idf.get(n, self.default) for n in shared)

    def answer_info(self, answer: str | None) -> float:
        return self.answer_idf.get(answer, self.default) if answer else 0.0


@dataclass
class Signature:
    """What a copy keeps: the mathematics of the problem and its (canonical) answer."""

    math: Counter
    answer: str | None

    @classmethod
    def of(cls, text: str, answer: str | None) -> "Signature":
        return cls(math_tokens(text), answer_form(answer))


def objection(prompt: Signature, item: Signature, min_agreement: float, answer_veto: bool,
              contains_item) -> str | None:
    """Why a candidate pair is not a copy (None: nothing against it).

    The mathematics must agree; answers, when both are known, must too, unless the prompt
    holds the item's whole text (`contains_item()`, asked only then: a verbatim copy stays a
    copy even with a wrong answer attached).
    """
    share = agreement(prompt.math, item.math)
    if share is not None and share < min_agreement:
        return f"numbers disagree ({share:.2f} shared)"
    if answer_veto and answers_differ(prompt.answer, item.answer) and not contains_item():
        return f"answers differ ({prompt.answer} vs {item.answer})"
    return None


_FINE = re.compile(r"\\[a-zA-Z]+|[^\W_]+|[-+=<>*/^|!]")


def fine_tokens(text: str) -> list[str]:
    """Tokens with operators and signs kept: x^8 - 98x^4 and x^8 + 98x^4 differ here."""
    return _FINE.findall(text.lower())


def contains(prompt_text: str, item_text: str) -> bool:
    """The item's whole text (fine tokens, in order, figures included) occurs inside the prompt's."""
    needle, hay = fine_tokens(item_text), fine_tokens(prompt_text)
    if not needle or len(needle) > len(hay):
        return False
    sep = "\x1f"
    return sep + sep.join(needle) + sep in sep + sep.join(hay) + sep
