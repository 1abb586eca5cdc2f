"""Tasks layer (decontam): one plain-text form for the notations a problem can be written in.

A copy of a benchmark problem may trade LaTeX for plain text (`\\frac{a}{b}` -> `a/b`,
`x^{2}` -> `x^2`, `\\left| x \\right|` -> `|x|`, `\\sqrt{2}` -> `sqrt(2)`) or spell operators
and small numbers out ("x squared plus three"). Both benchmark items and prompts go through
`plain` before any layer tokenises them, so n-grams, MinHash shingles, TF-IDF, the number
agreement and the embeddings compare the mathematics, not its typesetting. Pure regex, no
I/O; text without a backslash, a caret or a spelled-out operator takes a fast path.
"""

from __future__ import annotations

import re

_LATEX = (
    (re.compile(r"\\[dtc]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}"), r"(\1)/(\2)"),
    (re.compile(r"\\[dtc]?frac\s*(\w)\s*(\w)"), r"\1/\2"),
    (re.compile(r"\\sqrt\s*\[([^\]]*)\]\s*\{([^{}]*)\}"), r"root\1(\2)"),
    (re.compile(r"\\sqrt\s*\{([^{}]*)\}"), r"sqrt(\1)"),
    (re.compile(r"\\sqrt\s*(\w)"), r"sqrt(\1)"),
    (re.compile(r"\\[dt]?binom\s*\{([^{}]*)\}\s*\{([^{}]*)\}"), r"binom(\1,\2)"),
    (re.compile(r"([\^_])\s*\{([^{}]*)\}"), r"\1\2"),
    (re.compile(r"\\(?:left|right|[bB]igg?[lr]?)\s*(?=[|()\[\]./\\])"), ""),
    (re.compile(r"\\[lr]?[vV]ert\b|\\mid\b|\\\|"), "|"),
    (re.compile(r"\\(?:cdot|times|ast)\b"), "*"),
    (re.compile(r"\\div\b"), "/"),
    (re.compile(r"\\(?:leq?|leqslant)\b"), "<="),
    (re.compile(r"\\(?:geq?|geqslant)\b"), ">="),
    (re.compile(r"\\neq?\b"), "!="),
    (re.compile(r"\\infty\b"), "infinity"),
    (re.compile(r"\\(pi|theta|alpha|beta|gamma|delta|sin|cos|tan|cot|sec|csc|log|ln|exp|arcsin|arccos|"
                r"arctan|min|max|gcd|lcm)\b"), r"\1"),
    (re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"), r"\1"),
    (re.compile(r"\\[,;:! ]|~|\$+|\\[()\[\]]"), " "),
)
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero _ two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split()) if w != "_"}
_PHRASES = {
    "squared": "^2", "cubed": "^3", "multiplied by": "*", "times": "*", "divided by": "/",
    "plus": "+", "minus": "-", "equals": "=", "is equal to": "=", "square root of": "sqrt",
    "the square root of": "sqrt", "to the power of": "^", "raised to the power of": "^",
    "absolute value of": "|", "the absolute value of": "|", "less than or equal to": "<=",
    "greater than or equal to": ">=", "percent": "%", **_NUMBER_WORDS,
}
_WORDS = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _PHRASES), key=len, reverse=True)) + r")\b",
                    re.IGNORECASE)
_MARKERS = ("squared", "cubed", "times", "plus", "minus", "divided", "equal", "root", "power",
            "absolute", "percent")


def plain(text: str) -> str:
    """The text with LaTeX and spelled-out mathematics in one plain form (see module doc)."""
    if "\\" in text or "^" in text or "$" in text:
        for pattern, replacement in _LATEX:
            text = pattern.sub(replacement, text)
    lowered = text.lower()
    if any(w in _NUMBER_WORDS for w in lowered.split()) or any(m in lowered for m in _MARKERS):
        text = _WORDS.sub(lambda m: f" {_PHRASES[m.group(1).lower()]} ", text)
    return text
