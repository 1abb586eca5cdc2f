"""Schemas layer: settings of the rewrite and traces stages (the teacher side of the pipeline)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.config_base import Settings
from schemas.llm import EngineSettings

PHI_SYSTEM = (
    "You are a reasoning assistant. Think through the problem step by step before answering. "
    "Write your reasoning inside <think> and </think> tags, then write a concise solution that "
    "ends with the final answer in \\boxed{}."
)


class RewriteSettings(Settings):
    rewriter: EngineSettings = Field(default_factory=EngineSettings, description="Model that rewrites.")
    attempts: int = Field(2, gt=0, description="Rewrite samples per prompt; the first valid one is kept.")
    temperature: float = Field(0.7, ge=0)
    max_tokens: int = Field(512, gt=0)
    prompt_version: str = Field("rewrite-1", description="Version of the rewrite prompt (part of cache keys).")
    solver: EngineSettings | None = Field(None, description="Optional solver that must agree with the new answer.")
    solver_samples: int = Field(4, gt=0, description="Solver samples per accepted rewrite.")
    solver_min_agreement: float = Field(0.5, ge=0, le=1, description="Share of solver samples that must agree.")
    min_number_overlap: float = Field(
        0.5, ge=0, le=1, description="Share of the original's numbers the rewrite must keep (its mathematics)."
    )
    limit: int | None = Field(None, gt=0, description="Rewrite at most this many prompts.")


class TracesSettings(Settings):
    teacher: EngineSettings = Field(
        default_factory=EngineSettings,
        description="Teacher model: name one whose reasoning is visible (see README 'Choosing a teacher'); "
        "default the bundled local model, never a remote endpoint nobody chose.",
    )
    k: int = Field(4, gt=0, description="Responses per prompt.")
    system_prompt: str = Field(PHI_SYSTEM, description="System message in the style of the Phi-4 report.")
    temperature: float = Field(0.8, ge=0)
    max_tokens: int = Field(4096, gt=0, description="Longest response asked for.")
    bands: list[str] = Field(["teachable"], description="Difficulty bands whose prompts get traces.")
    include_rewritten: bool = Field(
        True, description="Trace a prompt with an accepted rewrite as its rewrite, when the rewrite's own band is wanted."
    )
    base_model: str | None = Field(
        None, description="Base model whose difficulty bands select prompts (default: difficulty.base's model "
        "in a pipeline config, else the only one scored)."
    )
    allow_answer_only: bool = Field(
        False, description="Accept responses without reasoning (empty think block) instead of failing."
    )
    min_tokens: int = Field(1, ge=0, description="Shorter responses are dropped (too_short).")
    max_trace_tokens: int = Field(16_000, gt=0, description="Longer responses are dropped (too_long).")
    max_repetition: float = Field(
        0.3, ge=0, le=1, description="Highest share of repeated word 5-grams (the report's RL penalty)."
    )
    keep: Literal["all_correct", "best_of_k"] = Field(
        "all_correct", description="Keep every correct trace, or only the shortest correct one."
    )
    limit: int | None = Field(None, gt=0, description="Trace at most this many prompts.")
