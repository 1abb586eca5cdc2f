"""Schemas layer: the LLM request model and the engine settings every LLM stage shares.

`LLMRequest` is engine-neutral (OpenAI-compatible servers and in-process vLLM take the same
fields). `EngineSettings` names an endpoint and its limits; the API key is never a setting,
only the *name* of the environment variable that holds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.config_base import Settings
from schemas.records import Record


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["system", "user", "assistant"]
    content: str


class LLMRequest(BaseModel):
    """One chat request; `n` samples of it are asked for by the caller, not stored here."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    messages: tuple[Message, ...]
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    extra: dict[str, object] = Field(default_factory=dict, description="Extra engine params (top_k, ...).")
    template_version: str = Field("1", description="Version of the prompt template that built it.")


class Price(Settings):
    input_per_mtok: float = Field(0.0, ge=0, description="USD per million prompt tokens.")
    output_per_mtok: float = Field(0.0, ge=0, description="USD per million completion tokens.")


_SECRET_PARAMS = {"key", "api_key", "apikey", "api-key", "token", "access_token", "auth", "password", "secret", "sig"}


def url_has_credentials(url: str) -> bool:
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    if "@" in parts.netloc:
        return True
    return any(name.lower() in _SECRET_PARAMS for name, _ in parse_qsl(parts.query, keep_blank_values=True))


class EngineSettings(Settings):
    """Where and how to call a model."""

    kind: Literal["local", "openai", "vllm", "openai_batch"] = Field(
        "local",
        description="local: start the bundled vLLM server (SmolLM2, or `local_model`) for the stage; "
        "openai: any OpenAI-compatible endpoint (base_url); vllm: in-process vllm.LLM; "
        "openai_batch: OpenAI's Batch API (answers within 24 h, half price).",
    )
    model: str = Field("smollm2-135m-instruct", description="Model name (served name, or path/id for vllm).")
    base_url: str | None = Field(
        None, description="OpenAI-compatible base URL (…/v1); None = OpenAI's, or the local server."
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")
    model_config = ConfigDict(hide_input_in_errors=True)  # a refused base_url may hold a key
    api_key_secret: str | None = Field(
        None, description="Name of a Prefect Secret block holding the API key (read by the flow on the worker; "
        "wins over api_key_env). Only the name is a setting, never the key.",
    )

    @field_validator("base_url")
    @classmethod
    def _no_credentials_in_url(cls, url: str | None) -> str | None:
        # The URL is stored in runs.params and flow-run parameters and printed: a key in it would leak.
        # The message must not echo the URL.
        if url and url_has_credentials(url):
            raise ValueError("base_url must not hold credentials (user:password@ or a key/token query "
                             "parameter): use api_key_env or api_key_secret")
        return url
    max_concurrency: int = Field(8, gt=0, description="Requests in flight at once.")
    requests_per_minute: float | None = Field(None, gt=0, description="Client-side request rate limit.")
    tokens_per_minute: float | None = Field(None, gt=0, description="Client-side token rate limit.")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout.")
    max_attempts: int = Field(6, gt=0, description="Attempts per request (429/5xx/timeouts retried).")
    backoff_base_s: float = Field(0.5, ge=0, description="First retry delay; doubles, with jitter.")
    backoff_max_s: float = Field(30.0, ge=0, description="Longest retry delay.")
    supports_n: bool = Field(True, description="Ask for n samples in one request (else fan out).")
    prices: dict[str, Price] = Field(
        default_factory=dict, description="Per-model prices; override the dated built-in table (tasks.llm.pricing)."
    )
    reasoning: bool | None = Field(
        None, description="OpenAI reasoning-model dialect (max_completion_tokens, no temperature/top_p); "
        "None = recognised by model name (o1/o3/o4/gpt-5 families).",
    )
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = Field(
        None, description="reasoning_effort sent to reasoning models (None = the provider's default)."
    )
    sampling_params: bool | None = Field(
        None, description="Send temperature/top_p (None = not for reasoning models, yes otherwise)."
    )
    params: dict[str, object] = Field(
        default_factory=dict, description="Extra request fields passed through as they are "
        "(chat_template_kwargs: {enable_thinking: true}, top_k, provider keys).",
    )
    budget_usd: float | None = Field(
        None, gt=0, description="Most this engine may spend in one stage run; it stops cleanly at the cap."
    )
    batch_wait_s: float = Field(
        0.0, ge=0, description="openai_batch: wait this long for batches to finish (0: submit, collect next run)."
    )
    batch_poll_s: float = Field(30.0, gt=0, description="openai_batch: seconds between status checks.")
    batch_discount: float = Field(0.5, ge=0, description="openai_batch: share of the list price batches cost.")
    reasoning_parser: str | None = Field(
        None, description="kind local: vLLM --reasoning-parser (deepseek_r1, qwen3, ...)."
    )
    server_args: list[str] = Field(
        default_factory=list, description="kind local: extra `vllm serve` arguments."
    )
    local_model: str | None = Field(
        None, description="kind local: a model folder or hub id to serve instead of the bundled SmolLM2."
    )
    vllm_args: dict[str, object] = Field(
        default_factory=dict, description="Extra vllm.LLM(...) arguments (kind vllm)."
    )


class LLMBatch(Record):
    """A Batch API submission in one of the states it was seen in (tasks.llm.batch_engine), copied
    from the response cache's ledger: the latest row of a batch_ref is its state now."""

    __table__ = "llm_batches"
    __key__ = ("batch_ref", "status", "collected")
    batch_ref: str = Field(description="Our id of the submission (also in the batch's metadata).")
    batch_id: str | None = Field(None, description="The provider's batch id (None: created, not yet seen).")
    input_file_id: str
    model: str
    status: str = Field(description="uploaded | validating | in_progress | finalizing | completed | expired | failed | cancelled")
    requests: int
    collected: bool = Field(description="Its output and error files are in the response cache.")
    run_id: str
    stage: str
    created_at: datetime


LLM_TABLES: tuple[type[Record], ...] = (LLMBatch,)
