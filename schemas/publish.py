"""Schemas layer: settings of the publish stage and the Arrow schema of a released record.

`PublishSettings` says what goes into a release (system prompt, filters, mixture, shard size,
license); `RELEASE_SCHEMA` is the column contract of every Parquet shard under
`releases/<name>/v<N>/data/`. No I/O, no Prefect.
"""

from __future__ import annotations

import re
from typing import Literal

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from schemas.config_base import Settings

# The Phi-4-reasoning SFT style: think first inside tags, then a concise solution.
DEFAULT_SYSTEM = (
    "You are a helpful assistant that reasons carefully. Think through the problem step by step "
    "inside <think> and </think> tags, then give a concise solution that ends with the final "
    "answer in \\boxed{}."
)
BANDS = ("too_easy", "teachable", "too_hard", "ambiguous")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class PublishSettings(Settings):
    system_prompt: str = Field(DEFAULT_SYSTEM, description="System message of every chat record.")
    mixture: dict[str, float] = Field(
        default_factory=dict,
        description="Weight of each group, e.g. {gsm8k: 1.0, math: 0.5, code: 2}: below 1 a share of its "
        "prompts, chosen by a hash of prompt_id (the same every time); above 1 up-sampled, first with "
        "more of a prompt's verified traces, then repeats. Unlisted groups: mixture_default.",
    )
    mixture_by: Literal["source", "domain"] = Field("source", description="What the mixture keys name.")
    mixture_default: float = Field(1.0, ge=0, description="Weight of groups the mixture does not list.")
    targets: dict[str, int] = Field(
        default_factory=dict,
        description="Size wanted per group (in target_unit), e.g. {math: 5000}; overrides the group's "
        "weight: fewer prompts (hash order) or up-sampling, as for weights.",
    )
    target_unit: Literal["rows", "tokens"] = Field("rows", description="Unit of targets: rows or student tokens.")
    mixture_seed: int = Field(0, ge=0, description="Salt of the mixture hash; change it to draw another subset.")
    bands: list[str] | None = Field(
        None, description="Keep only prompts whose difficulty band is listed (prompts without a band drop)."
    )
    min_pass_rate: float | None = Field(None, ge=0, le=1, description="Keep prompts with pass_rate >= this.")
    max_pass_rate: float | None = Field(None, ge=0, le=1, description="Keep prompts with pass_rate <= this.")
    difficulty_model: str | None = Field(
        None, description="Base model whose difficulty rows to use; default: the only one scored."
    )
    shard_rows: int = Field(50_000, gt=0, description="Records per Parquet shard.")
    license: str = Field("other", min_length=1, description="License id written in the dataset card (e.g. mit).")
    license_name: str | None = Field(None, description="License name shown by the Hub (needed with license: other).")
    license_link: str | None = Field(None, description="License link shown by the Hub (needed with license: other).")
    language: list[str] = Field(default_factory=lambda: ["en"], description="Languages of the records (card metadata).")
    description: str | None = Field(None, description="Free text placed at the top of the dataset card.")
    push: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Hugging Face dataset repo (ORG/NAME) the release is pushed to after publishing, tagged "
        "v<N>; the token comes from HF_TOKEN.",
    )
    push_private: bool = Field(False, description="Create the pushed repository private.")
    allow_undecontaminated: bool = Field(
        False, description="Publish although no decontamination ran (the card and manifest then say the "
        "set is NOT decontaminated); otherwise such a publish is refused.",
    )
    tokenizer: str | None = Field(
        None, description="The student's tokenizer (Hugging Face folder or id) that measures each record "
        "over its chat template; default: the bundled SmolLM2-135M-Instruct one.",
    )
    max_seq_len: int | None = Field(
        None, gt=0, description="Records longer than this in the student's tokens are left out "
        "(too_long_for_student).",
    )

    @field_validator("mixture")
    @classmethod
    def _weights_are_shares(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in value.items() if not 0 <= w < float("inf")}
        if bad:
            raise ValueError(f"mixture weights must be finite and >= 0; got {bad}")
        return value

    @field_validator("targets")
    @classmethod
    def _targets_positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: t for k, t in value.items() if t < 0}
        if bad:
            raise ValueError(f"targets must be >= 0; got {bad}")
        return value

    @field_validator("bands")
    @classmethod
    def _known_bands(cls, value: list[str] | None) -> list[str] | None:
        unknown = [b for b in value or [] if b not in BANDS]
        if unknown:
            raise ValueError(f"unknown band(s) {', '.join(unknown)}: choose from {', '.join(BANDS)}")
        return value

    @model_validator(mode="after")
    def _pass_rate_order(self) -> "PublishSettings":
        low, high = self.min_pass_rate, self.max_pass_rate
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_pass_rate ({low}) must not exceed max_pass_rate ({high})")
        return self


class PublishJob(PublishSettings):
    """The publish stage's settings: the release name and what goes into it."""

    name: str = Field(min_length=1, description="Release name: releases/<name>/v<N>/.")


MESSAGE = pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())])
DIFFICULTY = pa.struct([pa.field("pass_rate", pa.float64()), pa.field("band", pa.string())])

RELEASE_SCHEMA = pa.schema([
    pa.field("messages", pa.list_(MESSAGE), nullable=False),
    pa.field("prompt_id", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("domain", pa.string(), nullable=False),
    pa.field("difficulty", DIFFICULTY),
    pa.field("tokens", pa.int64()),  # the teacher's completion tokens
    pa.field("student_tokens", pa.int64(), nullable=False),  # the whole templated record, student tokenizer
    pa.field("teacher", pa.string(), nullable=False),
    pa.field("sample_index", pa.int64(), nullable=False),
    pa.field("rewritten", pa.bool_(), nullable=False),
    pa.field("repeat", pa.int64(), nullable=False),  # 0; n for the n-th repeat of an up-sampled record
])
RELEASE_KEY = ("prompt_id", "teacher", "sample_index", "repeat")
