"""Tasks layer (decontam): one plain-text form for the notations a problem can be written in.

A copy of a benchmark problem may trade LaTeX for plain text (`\\frac{a}{b}` -> `a/b`,
`x^{2}` -> `x^2`, `\\left| x \\right|` -> `|x|`, `\\sqrt{2}` -> `sqrt(2)`) or spell operators out
("x squared plus 3"); number words are left to `mathsig`, which counts them as numbers.
Both benchmark items and prompts go through `plain` before any layer tokenises them, so n-grams, MinHash shingles, TF-IDF, the number
agreement and the embeddings compare the mathematics, not its typesetting. Pure regex, no
I/O; text without a backslash, a caret or a spelled-out operator takes a fast path.
"""

from __future__ import annotations

import re

_I = re.IGNORECASE  # reformatted copies may shout: \FRAC{3 \PI}{2}
_LATEX = (
    ('frac', re.compile(r"\\[dtc]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", _I), r"(\1)/(\2)"),
    ('frac', re.compile(r"\\[dtc]?frac\s*(\w)\s*(\w)", _I), r"\1/\2"),
    ('sqrt', re.compile(r"\\sqrt\s*\[([^\]]*)\]\s*\{([^{}]*)\}", _I), r"root\1(\2)"),
    ('sqrt', re.compile(r"\\sqrt\s*\{([^{}]*)\}", _I), r"sqrt(\1)"),
    ('sqrt', re.compile(r"\\sqrt\s*(\w)", _I), r"sqrt(\1)"),
    ('binom', re.compile(r"\\[dt]?binom\s*\{([^{}]*)\}\s*\{([^{}]*)\}", _I), r"binom(\1,\2)"),
    ('{', re.compile(r"([\^_])\s*\{([^{}]*)\}", _I), r"\1\2"),
    ('\\', re.compile(r"\\(?:left|right|[bB]igg?[lr]?)\s*(?=[|()\[\]./\\])", _I), ""),
    ('|', re.compile(r"\\[lr]?[vV]ert\b|\\mid\b|\\\|", _I), "|"),
    ('\\', re.compile(r"\\(?:cdot|times|ast)\b", _I), "*"),
    ('div', re.compile(r"\\div\b", _I), "/"),
    ('\\', re.compile(r"\\(?:leq?|leqslant)\b", _I), "<="),
    ('\\', re.compile(r"\\(?:geq?|geqslant)\b", _I), ">="),
    ('ne', re.compile(r"\\neq?\b", _I), "!="),
    ('infty', re.compile(r"\\infty\b", _I), "infinity"),
    ('\\', re.compile(r"\\(pi|theta|alpha|beta|gamma|delta|sin|cos|tan|cot|sec|csc|log|ln|exp|arcsin|arccos|"
                r"arctan|min|max|gcd|lcm)\b", _I), r"\1"),
    ('\\', re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}", _I), r"\1"),
    (None, re.compile(r"\\[,;:! ]|~|\$+|\\[()\[\]]", _I), " "),
)
_PHRASES = {
    "squared": "^2", "cubed": "^3", "multiplied by": "*", "times": "*", "divided by": "/",
    "plus": "+", "minus": "-", "equals": "=", "is equal to": "=", "square root of": "sqrt",
    "the square root of": "sqrt", "to the power of": "^", "raised to the power of": "^",
    "absolute value of": "|", "the absolute value of": "|", "less than or equal to": "<=",
    "greater than or equal to": ">=", "percent": "%",
}
# A word every phrase holds and plain prose seldom does: texts without one skip the regex.
_TRIGGERS = frozenset({"squared", "cubed", "multiplied", "times", "divided", "plus", "minus", "equals",
                       "equal", "root", "power", "absolute", "percent"})
_PUNCTUATION = str.maketrans({c: " " for c in ".,;:!?()[]{}$'\"-"})
_WORDS = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _PHRASES), key=len, reverse=True)) + r")\b",
                    re.IGNORECASE)


def plain(text: str) -> str:
    """The text with LaTeX and spelled-out mathematics in one plain form (see module doc)."""
    if "\\" in text or "^" in text or "$" in text:
        lowered = text.lower()
        for key, pattern, replacement in _LATEX:
            if key is None or key in lowered:  # a substring test is far cheaper than a regex scan
                text = pattern.sub(replacement, text)
    if not _TRIGGERS.isdisjoint(text.lower().translate(_PUNCTUATION).split()):
        text = _WORDS.sub(_spelled, text)
    return text


def _spelled(match: re.Match) -> str:
    return f" {_PHRASES[match.group(1).lower()]} "
