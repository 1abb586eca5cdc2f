"""Semantic dedup with the bundled all-MiniLM-L6-v2 (offline): paraphrases dropped with method
'embedding', number variants kept, vectors stored and reused by the next run. No Prefect."""

import json
import uuid

import numpy as np

from schemas.config import IngestSettings, SourceSettings
from schemas.dedup import DedupSettings, EmbeddingSettings
from tasks.dedup.embed import model_name, similar_pairs
from tasks.dedup.stage import run_dedup
from tasks.embeddings import encode
from tasks.ingest.stage import ingest_source

SUM = "What is the sum of 2 and 3?"
NATALIA = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did she sell?"


def add(lake, tmp_path, source: str, records: list[dict]) -> list[str]:
    path = tmp_path / f"{source}-{uuid.uuid4().hex[:6]}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    ingest_source(lake, SourceSettings(name=source, paths=[str(path)]), IngestSettings(), "ingest-test")
    rows = lake.query("SELECT prompt_id FROM prompts WHERE source_file = ? ORDER BY CAST(source_id AS INT)", [path.name])
    return rows.column("prompt_id").to_pylist()


def duplicates(lake) -> dict[str, tuple]:
    rows = lake.query("SELECT prompt_id, duplicate_of, method, similarity FROM duplicates").to_pylist()
    return {r["prompt_id"]: (r["duplicate_of"], r["method"], r["similarity"]) for r in rows}


def settings(**extra) -> DedupSettings:
    return DedupSettings(minhash=False, embedding=EmbeddingSettings(enabled=True, threshold=0.85, **extra))


def test_similar_pairs_blockwise_search():
    new = np.eye(3, dtype=np.float32)[[0, 0, 1]]
    pool = np.eye(3, dtype=np.float32)[[1, 2]]
    pairs, sims = similar_pairs(new, pool, 0.9)
    assert pairs.tolist() == [[0, 1], [2, 3]] and sims.tolist() == [1.0, 1.0]


def test_paraphrases_are_dropped_number_variants_kept(lake, tmp_path):
    ids = add(lake, tmp_path, "s", [
        {"problem": SUM, "answer": "5"},
        {"problem": "Find the sum of 2 and 3."},  # paraphrase, cosine ~0.92
        {"problem": "What is the sum of 4 and 3?"},  # cosine ~0.88, but other numbers
        {"problem": "Describe a triangle with sides 3, 4 and 5."},
        {"problem": NATALIA},
    ])
    report = run_dedup(lake, settings(), "emb-1")
    assert report.dropped == {"embedding": 1} and report.kept == 4
    kept, method, similarity = duplicates(lake)[ids[1]]
    assert (kept, method) == (ids[0], "embedding") and similarity > 0.85
    assert report.rejected["embedding_numbers_differ"] >= 1
    stored = lake.query("SELECT prompt_id, model, len(vector) AS dim FROM dedup_embeddings").to_pylist()
    assert {r["prompt_id"] for r in stored} == {ids[0], ids[2], ids[3], ids[4], ids[1]}
    assert {(r["model"], r["dim"]) for r in stored} == {(model_name(None), 384)}

    assert run_dedup(lake, settings(), "emb-2").considered == 0
    later = add(lake, tmp_path, "t", [{"problem": "In April Natalia sold clips to 48 friends; in May she sold half as many. How many clips were sold in total?"}])
    report = run_dedup(lake, settings(), "emb-3")
    assert report.pool_before == 4 and report.dropped == {"embedding": 1}
    assert duplicates(lake)[later[0]][:2] == (ids[4], "embedding")


def test_encode_is_normalised_and_takes_a_model_path():
    from tasks.embeddings import default_model

    vectors = encode([SUM, NATALIA], default_model(), "cpu", 8)
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
