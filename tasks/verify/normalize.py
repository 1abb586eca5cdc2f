"""Tasks layer (verify): cheap, pure normalisation of extracted answer strings.

No sympy here: these functions run in the caller's thread on every answer, so each is a few
bounded regex/string passes (no nested quantifiers, so no catastrophic backtracking) and never
builds numbers from exponents. Contract:
- `parse_number` reads a *plain* number (int, decimal, "1,000", "3/4", "\\frac{3}{4}", with
  "$", "%", "^\\circ", "x =" and trailing unit words removed) as an exact Fraction, else None.
- `numbers_close` is the numeric tolerance (relative 1e-6, absolute 1e-9).
- `choice_letter` reads an option letter A-J ("C", "(C)", "\\text{(C)}", "C) 42" when loose).
- `normalize_string` / `normalize_latex` are the comparable forms of a string / an expression.
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

REL_TOL = Fraction(1, 10**6)
ABS_TOL = Fraction(1, 10**9)
MAX_NUMBER_CHARS = 200  # longer strings are never read as numbers (keeps Fraction() cheap)

_SPACING = re.compile(r"\\[!,;:> ]|\\q?quad\b|~|\\displaystyle|\\left\b|\\right\b")
_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"
)
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mbox)\s*\{")
_ASSIGN = re.compile(r"^[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?\s*=\s*(?=\S)")
_CURRENCY = re.compile(r"^([+-]?)\s*\\?\$\s*")
_PERCENT = re.compile(r"\s*\\?%$")
_DEGREES = re.compile(r"\s*(?:\^\s*\{?\s*\\circ\s*\}?|°|\\degree)$")
_UNIT_TEXT = re.compile(
    r"\s*\\(?:text|mbox|mathrm|textrm)\s*\{\s*([A-Za-z][A-Za-z .]*)\}(?:\s*\^\s*\{?[23]\}?)?$"
)
_UNIT_WORDS = re.compile(r"(?<=[\d.])\s+([A-Za-z]{2,}(?:[\s-]+[A-Za-z]+)*)\.?(?:\s*\^\s*\{?[23]\}?)?$")
# Words after a number that change its value or make it an expression: never strip them.
_NOT_UNITS = frozenset(
    "pi sqrt sin cos tan cot sec csc log ln exp mod times cdot over and or plus minus "
    "hundred hundreds thousand thousands million millions billion billions trillion dozen "
    "half halves third thirds quarter quarters percent".split()
)
_DECIMAL = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|[+-]?\.\d+")
_SLASH = re.compile(r"([+-]?\d+)\s*/\s*(\d+)")
_LATEX_FRAC = re.compile(r"([+-]?)\\[dt]?frac\s*(?:\{\s*([+-]?\d+)\s*\}\s*\{\s*(\d+)\s*\}|(\d)(\d))")
_LETTER_STRICT = re.compile(r"\(?([A-J])\)?\.?")
_LETTER_LOOSE = re.compile(r"\(([A-J])\)(?=$|[\s.:,;])|([A-J])(?=$|[.):])")
_EDGE_PUNCT = " \t\n.,;:"  # not "!" (factorial) and not "'" (prime)
_GROUP_SEP = re.compile(r"(?<=\d)(?:,\\!\s*|\{,\})(?=\d{3}(?!\d))")  # "11,\! 111", "1{,}000"
_DELIMITERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))


def strip_delimiters(text: str) -> str:
    """Remove outer $...$, $$...$$, \\(...\\), \\[...\\] (repeatedly), keep inner text."""
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for opener, closer in _DELIMITERS:
            if len(text) >= len(opener) + len(closer) and text.startswith(opener) and text.endswith(closer):
                inner = text[len(opener) : len(text) - len(closer)]
                if opener == "$" and "$" in inner:  # "$a$ and $b$" is two spans, not one
                    continue
                text, changed = inner.strip(), True
                break
    return text


def clean_answer(text: str) -> str:
    """Trim what surrounds an answer: markdown bold, quotes, math delimiters, end punctuation."""
    previous = None
    while text != previous:
        previous = text
        text = text.strip().strip("*`\"").strip()
        text = text.rstrip(_EDGE_PUNCT) if not text.endswith("\\.") else text
        text = strip_delimiters(text)
    return text


def unwrap_text(text: str) -> str:
    """`\\text{...}` (and \\textbf, \\mbox, ...) around the whole string -> its content."""
    while True:
        match = _TEXT_WRAP.match(text)
        if not match or not text.endswith("}"):
            return text
        depth = 0
        for index in range(match.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                break
        if index != len(text) - 1:  # the wrapper closes before the end: "\text{a} + b"
            return text
        text = text[match.end() : -1].strip()


def choice_letter(text: str | None, *, loose: bool = False) -> str | None:
    """The option letter A-J written as "C", "(C)", "C.", "\\text{(C)}", "**C**".

    `loose` also accepts a letter followed by the option's text: "(C) 42", "C) 42", "C. 42".
    """
    if not text or len(text) > 500:
        return None
    text = unwrap_text(clean_answer(unwrap_text(clean_answer(text))))
    match = _LETTER_STRICT.fullmatch(text)
    if match and (text.startswith("(") == text.rstrip(".").endswith(")")):
        return match.group(1)
    if loose:
        match = _LETTER_LOOSE.match(text)
        if match:
            return match.group(1) or match.group(2)
    return None


def strip_assignment(text: str) -> str:
    """"x = 5" -> "5" (one single-letter variable, one "="); anything else unchanged."""
    if text.count("=") == 1:
        return _ASSIGN.sub("", text, count=1)
    return text


def parse_number(text: str | None) -> Fraction | None:
    """A plain number as an exact Fraction; None for anything else (expressions, sets, ...)."""
    if not text or len(text) > MAX_NUMBER_CHARS:
        return None
    text = _SPACING.sub("", _GROUP_SEP.sub(",", clean_answer(text)))
    text = unwrap_text(strip_assignment(text))
    text = _PERCENT.sub("", _CURRENCY.sub(r"\1", text))
    text = _DEGREES.sub("", text)
    for pattern in (_UNIT_TEXT, _UNIT_WORDS):
        match = pattern.search(text)
        if match:
            if any(word.lower() in _NOT_UNITS for word in re.split(r"[\s.-]+", match.group(1))):
                return None
            text = text[: match.start()]
    text = text.strip()
    try:
        if _DECIMAL.fullmatch(text):
            return Fraction(text.replace(",", ""))
        match = _SLASH.fullmatch(text)
        if match and int(match.group(2)) != 0:
            return Fraction(int(match.group(1)), int(match.group(2)))
        match = _LATEX_FRAC.fullmatch(text)
        if match:
            numerator, denominator = (match.group(2), match.group(3)) if match.group(2) else match.group(4, 5)
            if int(denominator) != 0:
                value = Fraction(int(numerator), int(denominator))
                return -value if match.group(1) == "-" else value
    except (ValueError, ZeroDivisionError):  # e.g. more digits than int() accepts
        return None
    return None


def numbers_close(a: Fraction, b: Fraction) -> bool:
    """Equal within a relative 1e-6 (absolute 1e-9 near zero); exact rational arithmetic."""
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


def number_key(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def normalize_string(text: str) -> str:
    """For "string" answers: NFKC, wrappers and markup removed, casefolded, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = _TEXT_CMD.sub(r"\1", unwrap_text(clean_answer(text)))
    text = text.replace("$", "").replace("**", "").replace("\\%", "%")
    return " ".join(text.casefold().split()).strip(_EDGE_PUNCT + "!?\"'`")


def normalize_latex(text: str) -> str:
    """For expressions: NFKC, LaTeX spacing and \\left/\\right gone, \\dfrac/\\tfrac as \\frac, \\text{}
    unwrapped, degrees dropped, no whitespace; a plain word lower-cased."""
    text = unicodedata.normalize("NFKC", text)
    text = _SPACING.sub("", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = "".join(_DEGREES.sub("", _TEXT_CMD.sub(r"\1", text)).split())
    return text.lower() if text.isalpha() else text
