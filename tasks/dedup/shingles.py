"""Tasks layer (dedup): vectorised shingling of a shard of texts into 64-bit shingle hashes.

Texts are normalised like `tasks.text.tokens` (NFKC, lower case, every run of non-letters/
non-digits is one separator, so case, punctuation, spacing and LaTeX spacing do not matter) but
are not the same tokens: a LaTeX command loses its backslash and keeps digits glued to it
(`\\sqrt2` is one token), a thousands comma joins its digits, and Arrow's Unicode case mapping
is not Python's for a few letters (`İ`, final `ς`). Stored band keys depend on this form, so it
is the shingler's own and does not follow changes to `tasks.text`.
Shingles are word n-grams of those tokens or character n-grams of the tokens joined by single
spaces. Nothing runs per document in Python: this is the hot loop of the stage. All-ASCII
texts (nearly all) are tokenised by a compiled loop over their bytes (`kernels`), the others
in Arrow; both give the same tokens and hashes. Hashes are stable across processes and runs
(FNV-1a of tokens, fixed mixing), since stored band keys
depend on them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.dedup.kernels import FNV_OFFSET, FNV_PRIME, ascii_number_hashes, ascii_word_units

ShingleKind = Literal["word", "char"]

_SEPARATORS = r"[^\pL\pN]+"
_MIX = np.uint64(0x9E3779B97F4A7C15)
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d)")


@dataclass(frozen=True)
class Shingled:
    """Shingle hashes of a shard, flat: document d owns hashes[offsets[d]:offsets[d + 1]]."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len = documents + 1

    def of(self, doc: int) -> np.ndarray:
        return self.hashes[self.offsets[doc] : self.offsets[doc + 1]]

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass(frozen=True)
class ShingleSets:
    """Each document's shingles as a set: 32-bit fingerprints (the high half of each 64-bit
    shingle hash), sorted ascending without repeats, flat like `Shingled`. What verification
    compares: two distinct shingles share a fingerprint with chance 2**-32, so the Jaccard of
    these sets is that of the shingle sets but for a vanishing few pairs."""

    values: np.ndarray  # uint32
    offsets: np.ndarray  # int64, len = documents + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def take(self, docs: np.ndarray) -> "ShingleSets":
        """The sets of these documents, in this order (vectorised gather)."""
        starts, counts = self.offsets[docs], np.diff(self.offsets)[docs]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        source = np.repeat(starts - offsets[:-1], counts) + np.arange(int(offsets[-1]))
        return ShingleSets(self.values[source], offsets)

    @staticmethod
    def concat(parts: "list[ShingleSets]") -> "ShingleSets":
        if not parts:
            return ShingleSets(np.zeros(0, np.uint32), np.zeros(1, np.int64))
        shift = np.cumsum([0] + [len(p.values) for p in parts[:-1]])
        offsets = np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, shift)]).astype(np.int64)
        return ShingleSets(np.concatenate([p.values for p in parts]), offsets)


def shingle_sets(shingled: Shingled) -> ShingleSets:
    """Sorted, duplicate-free fingerprints per document: one sort of (document, fingerprint)."""
    docs = len(shingled.offsets) - 1
    owner = np.repeat(np.arange(docs, dtype=np.uint64), shingled.counts)
    key = (owner << np.uint64(32)) | (shingled.hashes >> np.uint64(32))
    key.sort()
    if len(key):
        key = key[np.concatenate([[True], key[1:] != key[:-1]])]
    counts = np.bincount((key >> np.uint64(32)).astype(np.int64), minlength=docs)
    return ShingleSets((key & np.uint64(0xFFFFFFFF)).astype(np.uint32),
                       np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


def _as_array(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    array = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def normalized(texts: Sequence[str | None] | pa.Array) -> pa.Array:
    """Lower-cased tokens joined by single spaces ('' for a text without letters or digits)."""
    array = _as_array(texts)
    array = pc.utf8_lower(pc.utf8_normalize(array.fill_null(""), "NFKC"))
    for _ in range(2):  # "1,000" and "1000" are one token, as in `number_multiset` (see there)
        array = pc.replace_substring_regex(array, r"(\d),(\d)", r"\1\2")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(array, _SEPARATORS, " "))


def splitmix(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: spreads structured input over all 64 bits (rensa takes hashes as is).
    Works in place on a copy; in-place ops matter here (tens of millions of values per shard)."""
    z = values + _MIX
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def _token_hashes(strings: pa.Array) -> np.ndarray:
    """FNV-1a (64-bit) of each token's UTF-8 bytes, as `kernels.ascii_word_units` computes it.
    Only the distinct tokens of the texts the compiled path does not take get here."""
    out = np.empty(len(strings), np.uint64)
    for i, token in enumerate(strings.to_pylist()):
        value = FNV_OFFSET
        for byte in token.encode():
            value = ((value ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
        out[i] = value
    return out


def _word_units(norm: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(hash per token, token offsets per document) of normalised texts."""
    lists = pc.split_pattern(norm, " ")
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    lengths[pc.equal(norm, "").to_numpy(zero_copy_only=False)] = 0  # '' splits into ['']
    words = pc.list_flatten(lists)
    words = words.filter(pc.not_equal(words, "")) if len(words) != lengths.sum() else words
    encoded = pc.dictionary_encode(words)
    units = _token_hashes(encoded.dictionary)[encoded.indices.to_numpy(zero_copy_only=False)]
    return units, np.concatenate([[0], np.cumsum(lengths)])


def _bytes_and_offsets(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of a string array and int64 offsets into them (no copy of the bytes)."""
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    _, offsets, data = array.buffers()
    offsets = np.frombuffer(offsets, width)[array.offset : array.offset + len(array) + 1].astype(np.int64)
    return (np.frombuffer(data, np.uint8) if data is not None else np.zeros(1, np.uint8)), offsets


def _interleave(docs: int, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One (units, offsets) in document order from parts of (documents, units, offsets)."""
    counts = np.zeros(docs, np.int64)
    for index, _, offsets in parts:
        counts[index] = np.diff(offsets)
    merged = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    units = np.empty(int(merged[-1]), np.uint64)
    for index, part, offsets in parts:
        units[np.repeat(merged[index] - offsets[:-1], np.diff(offsets)) + np.arange(len(part))] = part
    return units, merged


def _tokens_of(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Word units of raw texts: all-ASCII texts through the compiled tokeniser (the same tokens
    and hashes as normalising them), the others through Arrow's Unicode normalisation."""
    array = array.fill_null("")
    ascii = pc.string_is_ascii(array).to_numpy(zero_copy_only=False)
    if ascii.all():
        return ascii_word_units(*_bytes_and_offsets(array))
    if not ascii.any():
        return _word_units(normalized(array))
    fast, slow = np.flatnonzero(ascii), np.flatnonzero(~ascii)
    return _interleave(len(array), [
        (fast, *ascii_word_units(*_bytes_and_offsets(array.take(pa.array(fast))))),
        (slow, *_word_units(normalized(array.take(pa.array(slow))))),
    ])


def _char_units(norm: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(code point per character, character offsets per document)."""
    lengths = pc.utf8_length(norm).to_numpy(zero_copy_only=False).astype(np.int64)
    text = "".join(norm.to_pylist())
    units = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return units, np.concatenate([[0], np.cumsum(lengths)])  # n-grams are mixed afterwards


def _rolling(units: np.ndarray, n: int) -> np.ndarray:
    """Hash of units[j:j + n] for every j of the flat array (ignores document borders)."""
    grams = units[: len(units) - n + 1].copy()
    with np.errstate(over="ignore"):
        for k in range(1, n):
            grams *= _MIX
            grams ^= units[k : len(units) - n + 1 + k]
    return grams


def _short_grams(units: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """One hash of all units for each document shorter than n (few; fine unvectorised)."""
    out = np.empty(len(starts), np.uint64)
    with np.errstate(over="ignore"):
        for i, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist())):
            value = units[start]
            for unit in units[start + 1 : start + length]:
                value = (value * _MIX) ^ unit
            out[i] = value
    return out


def ngram_hashes(units: np.ndarray, offsets: np.ndarray, n: int) -> Shingled:
    """Hash every run of n consecutive units inside a document; a shorter document gives one
    shingle of all its units (as `tasks.text.word_ngrams`), an empty one none."""
    offsets = np.asarray(offsets, np.int64)
    lengths = np.diff(offsets)
    counts = np.where(lengths >= n, lengths - n + 1, (lengths > 0).astype(np.int64))
    gram_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    total = int(gram_offsets[-1])
    starts = np.repeat(offsets[:-1], counts) + (np.arange(total) - np.repeat(gram_offsets[:-1], counts))
    grams = np.zeros(total, np.uint64)
    short = (lengths > 0) & (lengths < n)
    in_long = np.repeat(~short, counts)
    if len(units) >= n:
        grams[in_long] = _rolling(units, n)[starts[in_long]]
    if short.any():
        grams[~in_long] = _short_grams(units, offsets[:-1][short], lengths[short])
    return Shingled(splitmix(grams), gram_offsets)


def shingle(texts: Sequence[str | None] | pa.Array, kind: ShingleKind, n: int) -> Shingled:
    if kind == "word":
        units, offsets = _tokens_of(_as_array(texts))
    else:
        units, offsets = _char_units(normalized(texts))
    return ngram_hashes(units, offsets, n)


def number_multiset(text: str | None) -> tuple[str, ...]:
    """The multiset of numbers of a text (digit runs, with a decimal part, thousands commas
    dropped): equal for reworded copies (clauses may move, `x - 1` may become `x-1`, `1,000`
    may lose its comma), different when a number changed. Unlike `tasks.text.numbers` it also
    counts digits glued to letters (`S_4`, `8\\times8`, `\\frac n2`, `.5`): changing those
    changes the problem too. The readable reference of `number_hashes`."""
    return tuple(sorted(_DIGITS.findall(_DIGIT_COMMA.sub("", text or ""))))


def number_hashes(texts: Sequence[str | None] | pa.Array) -> np.ndarray:
    """uint64 per text, equal for two texts iff their `number_multiset`s are equal (up to hash
    collisions): a sum of token hashes, so order does not matter and repeats count. All-ASCII
    texts take the compiled scanner, the others Arrow; both hash a number the same way."""
    array = _as_array(texts).fill_null("")
    ascii = pc.string_is_ascii(array).to_numpy(zero_copy_only=False)
    if ascii.all():
        return ascii_number_hashes(*_bytes_and_offsets(array))
    out = np.zeros(len(array), np.uint64)
    fast, slow = np.flatnonzero(ascii), np.flatnonzero(~ascii)
    if len(fast):
        out[fast] = ascii_number_hashes(*_bytes_and_offsets(array.take(pa.array(fast))))
    out[slow] = _arrow_number_hashes(array.take(pa.array(slow)))
    return out


def _arrow_number_hashes(array: pa.Array) -> np.ndarray:
    array = pc.replace_substring_regex(array, r"[^0-9.,]+", " ")  # shrink first
    for _ in range(2):  # RE2 has no look-around: each pass joins every other "1,000,000" comma
        array = pc.replace_substring_regex(array, r"(\d),(\d)", r"\1\2")
    lists = pc.split_pattern(pc.replace_substring(array, ",", " "), " ")
    words = pc.list_flatten(lists)
    owner = pc.list_parent_indices(lists).to_numpy()
    # A word is now digits and dots. With at most one dot, trimming dots gives what the regex
    # finds ("5." -> "5", ".5" -> "5", "3.14"); the rare word with more dots takes the regex.
    simple = pc.less(pc.count_substring(words, "."), 2).to_numpy(zero_copy_only=False)
    tokens = [pc.utf8_trim(words.filter(pa.array(simple)), ".")]
    owners = [owner[simple]]
    for word, who in zip(words.filter(pa.array(~simple)).to_pylist(), owner[~simple].tolist()):
        found = _DIGITS.findall(word)
        tokens.append(pa.array(found, pa.string()))
        owners.append(np.full(len(found), who, np.int64))
    tokens_all = pa.concat_arrays(tokens)
    real = pc.not_equal(tokens_all, "").to_numpy(zero_copy_only=False)
    owners_np = np.concatenate(owners)[real]
    encoded = pc.dictionary_encode(tokens_all.filter(pa.array(real)))
    token = splitmix(_token_hashes(encoded.dictionary))[encoded.indices.to_numpy(zero_copy_only=False)]
    total = np.zeros(len(array), np.uint64)
    with np.errstate(over="ignore"):
        np.add.at(total, owners_np, token)
    return total
