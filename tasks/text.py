"""Tasks layer: text primitives shared by dedup and decontamination.

Tokens are lower-cased word and number runs of the NFKC/whitespace-normalised text (LaTeX
commands count as words), so formatting changes do not change tokens. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tasks.ingest.fields import normalize_text

_TOKEN = re.compile(r"\\[a-zA-Z]+|[^\W_]+", re.UNICODE)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?:/\d+)?")


def tokens(text: str) -> list[str]:
    """Lower-cased word/number/LaTeX-command tokens; punctuation and spacing are ignored."""
    return _TOKEN.findall(normalize_text(text).lower())


def word_ngrams(toks: Sequence[str], n: int) -> list[str]:
    """Space-joined n-grams; a text shorter than n gives one gram of all its tokens."""
    if len(toks) < n:
        return [" ".join(toks)] if toks else []
    return [" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)]


def numbers(text: str) -> tuple[str, ...]:
    """The numbers of a text in order (commas in thousands removed): what a variant changes."""
    return tuple(m.replace(",", "") for m in _NUMBER.findall(normalize_text(text)))
