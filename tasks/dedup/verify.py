"""Tasks layer (dedup): verify candidate pairs with the number guard and exact Jaccard.

LSH only proposes pairs. A pair becomes a duplicate edge when, unless the settings allow it,
both texts hold the same numbers (a problem with other numbers is another problem: checked on
the number hashes computed while signing, before any text is touched), and the exact Jaccard
similarity of the two shingle sets reaches the threshold. Jaccard is computed in chunks of
pairs that worker processes take, each chunk shipping only the texts it needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from tasks.dedup.shingles import ShingleKind, shingle

CHUNK_PAIRS = 20_000


def score_pairs(texts: list[str], pairs: np.ndarray, kind: ShingleKind, n: int) -> np.ndarray:
    """Exact Jaccard of each (i, j) row of `pairs`, indices into `texts` (runs in a worker)."""
    shingled = shingle(texts, kind, n)
    hashes, bounds = shingled.hashes.tolist(), shingled.offsets.tolist()
    # Small sets of Python ints intersect faster than numpy arrays of a few dozen values.
    sets = [frozenset(hashes[bounds[i] : bounds[i + 1]]) for i in range(len(texts))]
    out = np.empty(len(pairs), np.float64)
    for row, (a, b) in enumerate(pairs.tolist()):
        x, y = sets[a], sets[b]
        inter = len(x & y)
        union = len(x) + len(y) - inter
        out[row] = inter / union if union else 1.0
    return out


def jaccard(a: str, b: str, kind: ShingleKind, n: int) -> float:
    return float(score_pairs([a, b], np.array([[0, 1]]), kind, n)[0])


@dataclass
class Verified:
    edges: np.ndarray  # (k x 2) global ids
    similarity: np.ndarray  # float64 per edge
    rejected: Counter = field(default_factory=Counter)  # why candidate pairs were not edges

    def lookup(self) -> dict[tuple[int, int], float]:
        return dict(zip(map(tuple, self.edges.tolist()), self.similarity.tolist()))


def chunks(
    pairs: np.ndarray, texts_of: Callable[[np.ndarray], list[str]], kind: ShingleKind, n: int
) -> Iterator[tuple[np.ndarray, tuple]]:
    """(pairs of the chunk, score_pairs arguments) for each chunk of sorted pairs."""
    for start in range(0, len(pairs), CHUNK_PAIRS):
        chunk = pairs[start : start + CHUNK_PAIRS]
        ids, local = np.unique(chunk, return_inverse=True)
        yield chunk, (texts_of(ids), local.reshape(-1, 2), kind, n)


def number_guard(pairs: np.ndarray, numbers: np.ndarray, rejected: Counter) -> np.ndarray:
    """The pairs whose two texts hold the same numbers (`numbers` indexed by global id)."""
    same = numbers[pairs[:, 0]] == numbers[pairs[:, 1]]
    rejected["numbers_differ"] += int((~same).sum())
    return pairs[same]


def keep_similar(
    scored: Iterator[tuple[np.ndarray, np.ndarray]], threshold: float, rejected: Counter
) -> Verified:
    """Collect (pairs, jaccard) chunks into the edges at or above the threshold."""
    edges, sims = [np.zeros((0, 2), np.int64)], [np.zeros(0)]
    for chunk, similarity in scored:
        ok = similarity >= threshold
        rejected["below_threshold"] += int((~ok).sum())
        edges.append(chunk[ok])
        sims.append(similarity[ok])
    return Verified(np.concatenate(edges), np.concatenate(sims), rejected)
