"""Tasks layer: the one text normaliser, its hash, and the tokens dedup and decontamination share.

`normalize_text` (NFKC, every whitespace run collapsed to one space, ends stripped) is what
hashing sees: `text_hash(normalize_text(problem))` is the prompt's `text_hash`, which exact
dedup and decontamination compare; the original text is what is stored and trained on.
Tokens are lower-cased word and number runs of the normalised text (LaTeX commands count as
words), so formatting changes do not change tokens. Pure functions, written for the hot loop.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

_TOKEN = re.compile(r"\\[a-zA-Z]+|[^\W_]+", re.UNICODE)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?:/\d+)?")


def normalize_text(text: str) -> str:
    """NFKC, then every whitespace run collapsed to one space, ends stripped."""
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def text_hash(normalized: str) -> str:
    """32 hex digits (blake2b-128) of a text; stable across processes, runs and machines."""
    return hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


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
