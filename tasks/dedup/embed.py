"""Tasks layer (dedup): what semantic dedup adds to the shared encoder (`tasks.embeddings`).

The name a model's vectors are stored under, and the similarity search: vectors are
L2-normalised, so cosine similarity is a dot product; the search is exact and blockwise
(new x (new + pool)), meant for pools of up to some 100k prompts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.embeddings import DEFAULT_MODEL, default_model

BLOCK = 2048


def model_name(model: str | None) -> str:
    """What `dedup_embeddings.model` records: the folder name of a local model, else the id."""
    path = Path(model or default_model())
    return path.name if path.exists() and path.name != "model" else (model or DEFAULT_MODEL)


def similar_pairs(new: np.ndarray, pool: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) with cosine >= threshold, i a row of `new` (id i), j a row of `new` (id j,
    j > i) or of `pool` (id len(new) + row); returns (pairs x 2, similarity)."""
    n = len(new)
    if n == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    found, sims = [], []
    everything = np.vstack([new, pool]) if len(pool) else new
    for start in range(0, n, BLOCK):
        block = new[start : start + BLOCK]
        scores = block @ everything.T
        rows, cols = np.nonzero(scores >= threshold)
        rows = rows + start
        keep = cols > rows  # each new-new pair once, never a prompt with itself
        found.append(np.stack([rows[keep], cols[keep]], axis=1))
        sims.append(scores[rows[keep] - start, cols[keep]])
    return np.concatenate(found).astype(np.int64), np.concatenate(sims).astype(np.float64)
