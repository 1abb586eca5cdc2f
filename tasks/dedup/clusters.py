"""Tasks layer (dedup): clusters of verified duplicate edges and the kept member of each.

Connected components over global ids, where new ids (0..n_new-1) are in keep-preference order (source
priority, then has an answer, then earliest, then prompt id) and ids >= n_new are prompts kept
by earlier runs. A cluster of new prompts keeps its lowest id. A cluster that reaches the kept
pool keeps the pool's prompts as they are (later stages already use them) and each new member
points at the pool prompt it is most similar to. Pure Python over the ids that have edges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass(frozen=True)
class Drop:
    dropped: int
    kept: int
    similarity: float


def resolve(edges: np.ndarray, n_new: int, similarity: Callable[[np.ndarray], np.ndarray]) -> list[Drop]:
    """One Drop per new id that is a duplicate. `similarity(pairs)` scores (dropped, kept)
    rows in one batch; the score is recorded as is, also for two ids joined only through
    others (it may then be below the threshold). Vectorised: clusters are the connected
    components of the edges (scipy), a million edges take a fraction of a second."""
    if not len(edges):
        return []
    ids, member, first, pool_size, last = _components(np.asarray(edges, np.int64), n_new)
    new = ids < n_new
    # A cluster of new prompts only: every member but the first points at the first.
    alone = new & (pool_size[member] == 0) & (ids != ids[first[member]])
    # A cluster that reaches the pool: every new member is scored against every pool member
    # (the pool members sort last in their cluster).
    joined = np.flatnonzero(new & (pool_size[member] > 0))
    repeats = pool_size[member[joined]]
    within = np.arange(int(repeats.sum())) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    targets = ids[np.repeat(last[member[joined]] + 1 - repeats, repeats) + within]
    asked = np.concatenate([
        np.stack([ids[alone], ids[first[member[alone]]]], axis=1),
        np.stack([np.repeat(ids[joined], repeats), targets], axis=1),
    ]).astype(np.int64)
    scores = np.asarray(similarity(asked), np.float64)
    # Per dropped id: the most similar target, then the lowest id.
    order = np.lexsort((asked[:, 1], -scores, asked[:, 0]))
    best = order[np.concatenate([[True], asked[order, 0][1:] != asked[order, 0][:-1]])]
    return [Drop(d, k, s) for d, k, s in zip(asked[best, 0].tolist(), asked[best, 1].tolist(), scores[best].tolist())]


def _components(edges: np.ndarray, n_new: int) -> tuple[np.ndarray, ...]:
    """The ids of the edges sorted by (cluster, id), the cluster index of each position, and
    per cluster: the position of its first (smallest) id, its number of pool ids (ids >=
    n_new), the position of its last id."""
    nodes, local = np.unique(edges, return_inverse=True)
    local = local.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(local), np.int8), (local[:, 0], local[:, 1])), shape=(len(nodes),) * 2)
    _, label = connected_components(graph, directed=False)
    order = np.lexsort((nodes, label))
    ids, label = nodes[order], label[order]
    starts = np.flatnonzero(np.concatenate([[True], label[1:] != label[:-1]]))
    member = np.cumsum(np.concatenate([[True], label[1:] != label[:-1]])) - 1
    pool_size = np.add.reduceat((ids >= n_new).astype(np.int64), starts)
    last = np.concatenate([starts[1:], [len(ids)]]) - 1
    return ids, member, starts, pool_size, last
