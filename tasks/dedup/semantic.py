"""Tasks layer (dedup): the stage's optional embedding step, between MinHash and the write.

Encodes the pending prompts still alive (reusing vectors stored for the same model), compares
them with each other and with the kept pool's stored vectors, applies the number guard, and
clusters with the same union-find rules as MinHash. Returns drops and the vector rows to store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from schemas.dedup import DedupSettings
from tasks import embeddings
from tasks.dedup import embed, store
from tasks.dedup.clusters import resolve
from tasks.dedup.shingles import number_hashes
from warehouse.lake import Lake

if TYPE_CHECKING:
    from tasks.dedup.report import DedupReport, Pending


def vectors(
    lake: Lake, settings: DedupSettings, ids: list[str], texts: list[str], run_id: str
) -> tuple[np.ndarray, pa.Table]:
    """Embeddings of these prompts (stored ones reused) and the rows of the newly computed."""
    cfg = settings.embedding
    name = embed.model_name(cfg.model)
    stored = store.stored_embeddings(lake, name, ids)
    known = dict(zip(stored.column("prompt_id").to_pylist(), stored.column("vector").to_pylist()))
    missing = [i for i, prompt in enumerate(ids) if prompt not in known]
    fresh = (list(embeddings.encode([texts[i] for i in missing], cfg.model, cfg.device, cfg.batch_size))
             if missing else [])  # all stored: the model is not even loaded
    found = {ids[i]: fresh[k] for k, i in enumerate(missing)}
    found |= {p: np.asarray(v, np.float32) for p, v in known.items()}
    rows = pa.table({
        "prompt_id": pa.array([ids[i] for i in missing], pa.string()), "model": [name] * len(missing),
        "vector": pa.array([v.tolist() for v in fresh], pa.list_(pa.float32())),
        "run_id": [run_id] * len(missing),
    })
    return (np.stack([found[p] for p in ids]) if ids else np.zeros((0, 0), np.float32)), rows


def semantic_duplicates(
    lake: Lake, settings: DedupSettings, pending: "Pending", alive: np.ndarray,
    report: "DedupReport", run_id: str,
) -> tuple[list[tuple[int, str, float]], pa.Table]:
    """Drops as (pending position, kept prompt id, cosine), and the embedding rows to store."""
    ids = pending.prompt_ids.take(pa.array(alive, pa.int64())).to_pylist()
    texts = pending.problems(alive)
    new, rows = vectors(lake, settings, ids, texts, run_id)
    if not ids:
        return [], rows
    pool = store.pool_embeddings(lake, report.params_key, embed.model_name(settings.embedding.model))
    pool_ids = pool.column("prompt_id").to_pylist()
    pool_vectors = np.asarray(pool.column("vector").to_pylist(), np.float32)
    pool_vectors = pool_vectors.reshape(len(pool_ids), new.shape[1])
    pairs, sims = embed.similar_pairs(new, pool_vectors, settings.embedding.threshold)
    report.candidate_pairs += len(pairs)
    if not settings.merge_number_variants and len(pairs):
        numbers = np.concatenate([number_hashes(texts), number_hashes(store.problems(lake, pool_ids))])
        same = numbers[pairs[:, 0]] == numbers[pairs[:, 1]]
        report.rejected["embedding_numbers_differ"] += int((~same).sum())
        pairs, sims = pairs[same], sims[same]
    everything = np.vstack([new, pool_vectors])

    def cosine(asked: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", everything[asked[:, 0]], everything[asked[:, 1]]).astype(np.float64)

    names = ids + pool_ids
    drops = [(int(alive[d.dropped]), names[d.kept], d.similarity) for d in resolve(pairs, len(ids), cosine)]
    return drops, rows
