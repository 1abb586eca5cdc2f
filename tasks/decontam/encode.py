"""Tasks layer (decontam): texts to token ids and n-gram hashes, a whole batch at a time.

Tokens are those of `tasks.text.tokens` (lower-cased words, numbers, LaTeX commands) with
LaTeX spellings that print alike merged (`\\dfrac` = `\\frac`) and layout commands dropped
(`\\left`, `\\displaystyle`, `\\text`), so reformatting does not change them. The vocabulary
is the benchmarks' tokens: a prompt token outside it gets an id above `vocab_size` that no
benchmark n-gram contains. A batch is joined into one string and tokenised by one regex call,
and token ids come from Arrow's dictionary encoding, so no Python loop runs per token; n-gram
hashes are rolling polynomial hashes over the id array (numpy, 64-bit wrap-around).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache

import numpy as np

from tasks.text import tokens

SEP = "\x1e"
_COMMAND_DIGITS = re.compile(rb"(\\[a-z]+)(?=[0-9])")
# ASCII bytes that are not token characters become spaces (bytes >= 128 stay: UTF-8 inside
# tokens of the few non-ASCII texts, which are re-spaced by `tasks.text.tokens` first).
_KEEP = set(b"abcdefghijklmnopqrstuvwxyz0123456789\\\x1e")
_SPACES = bytes(c if (c in _KEEP or c >= 128) else 32 for c in range(256))
_SAME = {"\\dfrac": "\\frac", "\\tfrac": "\\frac", "\\cfrac": "\\frac", "\\dbinom": "\\binom",
         "\\tbinom": "\\binom", "\\le": "\\leq", "\\ge": "\\geq", "\\ne": "\\neq",
         "\\leqslant": "\\leq", "\\geqslant": "\\geq"}
_DROP = frozenset({"\\left", "\\right", "\\displaystyle", "\\textstyle", "\\big", "\\bigl", "\\bigr",
                   "\\bigg", "\\biggl", "\\biggr", "\\quad", "\\qquad", "\\text", "\\textbf",
                   "\\textit", "\\mathrm", "\\mathbf", "\\mathit", "\\mbox", "\\operatorname",
                   "\\limits", "\\nolimits", "\\emph", "\\textnormal", "\\hspace", "\\vspace"})
_SEP_ID, _DROP_ID = -1, -2
_MULT = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class TokenBatch:
    """Token ids of many texts: text i is ids[offsets[i]:offsets[i + 1]]."""

    ids: np.ndarray  # int64
    offsets: np.ndarray  # int64, len = texts + 1
    numeric: np.ndarray | None = None  # bool per id: the token holds a digit (siblings mask them)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def doc_of(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.offsets) - 1), self.lengths)


def _mix(ids: np.ndarray) -> np.ndarray:
    """splitmix64 of each id, so that the polynomial hash sees well spread values."""
    x = ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def rolling_hashes(ids: np.ndarray, sizes: list[int], mixed: np.ndarray | None = None) -> dict[int, np.ndarray]:
    """{n: hash of ids[i:i+n] for every start i} for each n in sizes, in one in-place pass.

    hash(n) = sum_j mix(ids[i+j]) * M^(n-1-j) mod 2^64: each step multiplies the previous
    hashes by M and adds the next id, so all sizes up to the largest cost one sweep.
    """
    mixed = _mix(ids) if mixed is None else mixed
    wanted, largest = set(sizes), max(sizes)
    out: dict[int, np.ndarray] = {}
    current = mixed
    with np.errstate(over="ignore"):
        for n in range(1, largest + 1):
            if n == 2:  # the first step allocates the working buffer; later ones work in place
                current = current[:-1] * _MULT + mixed[1:]
            elif n > 2:
                current = current[:-1]
                current *= _MULT
                current += mixed[n - 1:]
            if n in wanted:
                out[n] = current if n == largest else current.copy()  # later steps overwrite
            if len(current) == 0:
                break
    return {n: out.get(n, np.zeros(0, np.uint64)) for n in sizes}


def hash_at(mixed: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Hash of the ids at starts[k] .. starts[k] + lengths[k] (the rolling_hashes formula)."""
    h = np.zeros(len(starts), np.uint64)
    with np.errstate(over="ignore"):
        for j in range(int(lengths.max()) if len(lengths) else 0):
            inside = j < lengths
            h[inside] = h[inside] * _MULT + mixed[starts[inside] + j]
    return h


@cache
def _mix_table(vocab_size: int) -> np.ndarray:
    return _mix(np.arange(vocab_size + 1))


class BatchView:
    """A token batch with what every layer asks of it computed once: where each text ends,
    which tokens are unknown (outside every benchmark), mixed ids and the rolling hashes of
    the sizes the layers need."""

    def __init__(self, batch: TokenBatch, vocab_size: int, sizes: list[int]):
        self.batch = batch
        total = len(batch.ids)
        self.doc = batch.doc_of()
        self.room = batch.offsets[1:][self.doc] - np.arange(total)  # tokens of its text from here
        unknown = batch.ids > vocab_size
        self._unknown = np.concatenate(([0], np.cumsum(unknown)))
        # Known ids mix by table lookup; the few unknown ones are mixed directly.
        self.mixed = _mix_table(vocab_size)[np.minimum(batch.ids, vocab_size)]
        self.mixed[unknown] = _mix(batch.ids[unknown])
        self.hashes = rolling_hashes(batch.ids, sorted(set(sizes)), self.mixed)

    def all_known(self, starts: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        """Whether the n tokens from each start are all benchmark tokens."""
        return self._unknown[starts + n] == self._unknown[starts]

    def starts(self, n: int, known_only: bool) -> np.ndarray:
        """Start positions of n-grams inside one text (made of known tokens only, if asked)."""
        limit = len(self.batch.ids) - n + 1
        if limit <= 0:
            return np.zeros(0, np.int64)
        inside = self.room[:limit] >= n
        if known_only:
            inside &= self._unknown[n:n + limit] == self._unknown[:limit]
        return np.flatnonzero(inside)


# Non-ASCII characters that are separators before and after NFKC (quotes, dashes, math signs,
# no-break space): mapped to spaces, most non-ASCII texts become ASCII and take the fast path.
_SEPARATORS = str.maketrans({c: " " for c in "\u2018\u2019\u201c\u201d\u2013\u2014\u2212\u2026\u00a0"
                                                "\u00d7\u00f7\u2264\u2265\u00b1\u00b0\u00b7\u2022\u2032\u2033"
                                                "\u2260\u2248\u221a\u2192\u2190\u2202\u221e\u2208"})


def _respace(text: str) -> str:
    text = text.translate(_SEPARATORS)
    if text.isascii():
        return text
    return " ".join(tokens(text))


def _tokenizable(texts: list[str]) -> bytes:
    """One lower-cased UTF-8 buffer of all texts, SEP between them, ready for split().

    ASCII texts go straight through (bytes translate + split is ~10x faster than a regex);
    the few others are re-spaced by `tasks.text.tokens` itself, so both paths give its tokens.
    """
    joined = SEP.join(texts)
    if joined.count(SEP) != len(texts) - 1:  # a text holding the separator itself
        texts = [text.replace(SEP, " ") for text in texts]
        joined = SEP.join(texts)
    if not joined.isascii():
        joined = SEP.join([text if text.isascii() else _respace(text) for text in texts])
    big = joined.lower().encode("utf-8")
    big = big.replace(b"\\", b" \\").replace(SEP.encode(), b" \x1e ")
    if _COMMAND_DIGITS.search(big):  # "\\sqrt2" is "\\sqrt 2"
        big = _COMMAND_DIGITS.sub(rb"\1 ", big)
    return big.translate(_SPACES)


class Encoder:
    """Token ids for benchmark items and prompts; built once from the benchmark texts."""

    def __init__(self, benchmark_texts: list[str]):
        vocab: dict[bytes, int] = {}
        for token in sorted(set(_tokenizable(benchmark_texts).split())):
            text = token.decode()
            if text != SEP and text not in _DROP and text != "\\":
                vocab.setdefault(_SAME.get(text, text).encode(), len(vocab) + 1)
        for alias, canonical in _SAME.items():
            if canonical.encode() in vocab:
                vocab[alias.encode()] = vocab[canonical.encode()]
        self.vocab = vocab
        self.vocab_size = len(set(vocab.values()))
        self.words = {i: t.decode() for t, i in vocab.items() if _SAME.get(t.decode(), t.decode()) == t.decode()}

    def _ids_of(self, distinct: list[bytes], first: np.ndarray) -> np.ndarray:
        """Vocabulary id of each distinct token (SEP, DROP, or unknown ids above vocab_size)."""
        unknown = self.vocab_size + 1
        ids = np.empty(len(distinct), np.int64)
        for index, token in enumerate(distinct):
            if token == b"\x1e":
                ids[index] = _SEP_ID
            elif token == b"\\" or token.decode("utf-8", "replace") in _DROP:
                ids[index] = _DROP_ID
            else:
                # An unknown token gets an id of its own (per batch): MinHash sets stay exact.
                ids[index] = self.vocab.get(token, unknown + int(first[index]))
        return ids

    def encode(self, texts: list[str]) -> TokenBatch:
        if not texts:
            return TokenBatch(np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, bool))
        flat = _tokenizable(texts).split()
        seen: dict[bytes, int] = {}
        # setdefault with a running counter numbers each distinct token by first occurrence.
        raw = np.fromiter(map(seen.setdefault, flat, itertools.count()), np.int64, len(flat))
        first = np.fromiter(seen.values(), np.int64, len(seen))
        lookup = np.zeros(len(flat) + 1, np.int64)
        lookup[first] = self._ids_of(list(seen), first)
        digits = np.zeros(len(flat) + 1, bool)
        # Any digit makes a token a number for siblings: '32x', '3rd', '2cm' change with the numbers.
        digits[first] = np.fromiter((token.translate(None, b"0123456789") != token for token in seen), bool, len(seen))
        ids, numeric = lookup[raw], digits[raw]
        kept = ids != _DROP_ID
        ids, numeric = ids[kept], numeric[kept]
        separators = np.flatnonzero(ids == _SEP_ID)
        ends = np.append(separators, len(ids))
        lengths = ends - np.concatenate(([0], separators + 1))
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        text = ids != _SEP_ID
        return TokenBatch(ids[text], offsets, numeric[text])

    def ngram_text(self, ids: np.ndarray) -> str:
        return " ".join(self.words.get(int(i), "?") for i in ids)
