"""Tasks layer (dedup): clusters of verified duplicate edges and the kept member of each.

Union-find over global ids, where new ids (0..n_new-1) are in keep-preference order (source
priority, then has an answer, then earliest, then prompt id) and ids >= n_new are prompts kept
by earlier runs. A cluster of new prompts keeps its lowest id. A cluster that reaches the kept
pool keeps the pool's prompts as they are (later stages already use them) and each new member
points at the pool prompt it is most similar to. Pure Python over the ids that have edges.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class UnionFind:
    """Disjoint sets over arbitrary ints; the root of a set is always its smallest member."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving keeps trees flat
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            low, high = (ra, rb) if ra < rb else (rb, ra)
            self.parent[high] = low

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for x in self.parent:
            out[self.find(x)].append(x)
        return out


@dataclass(frozen=True)
class Drop:
    dropped: int
    kept: int
    similarity: float


def resolve(edges: np.ndarray, n_new: int, similarity: Callable[[np.ndarray], np.ndarray]) -> list[Drop]:
    """One Drop per new id that is a duplicate. `similarity(pairs)` scores (dropped, kept)
    rows in one batch; the score is recorded as is, also for two ids joined only through
    others (it may then be below the threshold)."""
    forest = UnionFind()
    for a, b in edges.tolist():
        forest.union(a, b)
    plan: list[tuple[int, list[int]]] = []  # (new id, the ids it may point at)
    for members in forest.groups().values():
        members.sort()
        pool = [m for m in members if m >= n_new]
        new = [m for m in members if m < n_new]
        if pool:
            plan += [(m, pool) for m in new]
        else:
            plan += [(m, [new[0]]) for m in new[1:]]
    asked = np.array([(m, t) for m, targets in plan for t in targets], np.int64).reshape(-1, 2)
    scores = iter(similarity(asked).tolist())
    drops = []
    for member, targets in plan:
        best, target = max((next(scores), -t) for t in targets)  # most similar, then lowest id
        drops.append(Drop(member, -target, best))
    return sorted(drops, key=lambda d: d.dropped)
