"""Tasks layer (llm): the `openai` engine, any OpenAI-compatible endpoint via the async client.

Bounded concurrency, client-side request/token rate limits, and retries with exponential
backoff and jitter for 429 (honouring Retry-After), 5xx, timeouts, connection errors and
malformed bodies only; 400/401/403/404 stop the stage with one clear line. Asks for `n`
samples per request when the endpoint supports it and fans out otherwise. The API key is
read from the environment variable the settings name and never leaves the client object.
The request follows the model's dialect (tasks.llm.dialects): a 400 naming one unsupported
parameter is understood once, applied to every later request and logged as an `adapted` call.
Each request reserves its worst-case cost against the engine's budget before it is sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid

import openai

from schemas.llm import EngineSettings, LLMRequest
from tasks.llm.base import CallCallback, Job, LLMFatalError, SamplesCallback, run_coroutine, split_tokens
from tasks.llm.budget import Budget
from tasks.llm.cache import Sample
from tasks.llm.dialects import Dialect, reasoning_channel
from tasks.llm.pricing import cost_usd, price_of
from tasks.llm.gates import EndpointGate, endpoint_slot, limit_name
from tasks.llm.limits import RateLimiter

RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.APIResponseValidationError,
    openai.ConflictError,
    openai.UnprocessableEntityError,
)
FATAL = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError, openai.BadRequestError)


class MalformedResponse(Exception):
    """The body parsed but is not a chat completion we can use."""


def _reasoning(message: object) -> tuple[str | None, str | None]:
    """(field name, text) of separate reasoning: DeepSeek/old vLLM `reasoning_content`, new vLLM `reasoning`."""
    extra = getattr(message, "model_extra", None) or {}
    for name in ("reasoning_content", "reasoning"):
        found = getattr(message, name, None) or extra.get(name)
        if isinstance(found, str) and found.strip():
            return name, found
    return None, None


def _sample(choice: object, text: str, prompt_tokens: int, share: int) -> Sample:
    name, reasoning = _reasoning(choice.message)  # type: ignore[attr-defined]
    channel = reasoning_channel(text, name, reasoning)
    return Sample(text, reasoning, choice.finish_reason, prompt_tokens, share, channel)  # type: ignore[attr-defined]


def reasoning_tokens(response: object) -> int:
    """Hidden reasoning spent (OpenAI's usage.completion_tokens_details.reasoning_tokens), else 0."""
    details = getattr(getattr(response, "usage", None), "completion_tokens_details", None)
    return int(getattr(details, "reasoning_tokens", 0) or 0)


def parse_samples(response: object) -> tuple[list[Sample], int, int]:
    """Samples, prompt tokens, completion tokens of a chat completion; raises MalformedResponse."""
    try:
        choices = list(response.choices)  # type: ignore[attr-defined]
        texts = [c.message.content or "" for c in choices]
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        shares = split_tokens(completion_tokens, texts)
        samples = [_sample(c, text, prompt_tokens, share) for c, text, share in zip(choices, texts, shares)]
    except (AttributeError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"unusable response body: {type(exc).__name__}") from None
    if not samples:
        raise MalformedResponse("response has no choices")
    return samples, prompt_tokens, completion_tokens


def retry_after_s(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    text = f"{type(exc).__name__}" + (f" {status}" if status else "")
    error = error_of(exc)
    if error and (error.get("param") or error.get("code")):
        text += f" ({error.get('code') or 'error'}: {error.get('param') or '-'})"
    return text[:200]


def error_of(exc: BaseException) -> dict | None:
    """The OpenAI error object ({message, type, param, code}) of an API error, if any."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return body if isinstance(body, dict) and "message" in body else None


class OpenAIEngine:
    name = "openai"

    def __init__(self, settings: EngineSettings, gate: EndpointGate | None = None, api_key: str | None = None):
        self.settings = settings
        self._gate = gate
        self.model = settings.model
        self._api_key = api_key or os.environ.get(settings.api_key_env)
        if not self._api_key:
            if settings.base_url is None:
                raise LLMFatalError(f"set the {settings.api_key_env} environment variable (no API key found)")
            self._api_key = "EMPTY"  # local OpenAI-compatible servers accept any key
        self.supports_n = settings.supports_n
        self._limit = limit_name(settings.base_url, settings.model)
        self.dialect = Dialect.of(settings)
        self.price = price_of(settings)
        self.budget = Budget(settings.budget_usd)

    def close(self) -> None:
        pass

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        return cost_usd(self.price, prompt_tokens, completion_tokens)

    def run(self, jobs: list[Job], on_samples: SamplesCallback, on_call: CallCallback) -> None:
        if jobs:
            run_coroutine(lambda: self._run_all(jobs, on_samples, on_call))

    async def _run_all(self, jobs: list[Job], on_samples: SamplesCallback, on_call: CallCallback) -> None:
        s = self.settings
        client = openai.AsyncOpenAI(base_url=s.base_url, api_key=self._api_key, max_retries=0, timeout=s.timeout_s)
        limiter = RateLimiter(s.requests_per_minute, s.tokens_per_minute)
        gate = asyncio.Semaphore(s.max_concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                for job in jobs:
                    group.create_task(self._run_job(client, limiter, gate, job, on_samples, on_call))
        except* LLMFatalError as errors:
            raise errors.exceptions[0] from None
        finally:
            await client.close()

    async def _run_job(self, client, limiter, gate, job: Job, on_samples: SamplesCallback, on_call: CallCallback) -> None:
        remaining = list(job.keys)
        while remaining:
            n = len(remaining) if self.supports_n else 1
            samples, call = None, None
            async with gate, endpoint_slot(self._gate, self._limit, self.settings.max_concurrency,
                                           self.settings.requests_per_minute):
                held = self.budget.reserve(self.price is not None)  # checked once a slot is free
                if held is None:
                    return  # at the cap: the client says so; what was answered is kept
                try:
                    samples, call = await self._call(client, limiter, job.request, n, remaining[0], on_call)
                finally:
                    self.budget.settle(held, call.get("cost_usd") if call else None)
            if samples is None:
                return  # gave up after max_attempts; the error is logged, a rerun retries
            taken = remaining[: len(samples)]
            on_samples(job, taken, samples[: len(taken)], call)
            remaining = remaining[len(taken) :]

    async def _call(self, client, limiter, request: LLMRequest, n: int, call_key: str, on_call: CallCallback):
        s = self.settings
        attempt = adaptations = 0
        while attempt < s.max_attempts:
            attempt += 1
            await limiter.acquire(self._estimate_tokens(request, n))
            call = {"call_id": uuid.uuid4().hex, "call_key": call_key, "attempt": attempt, "samples": n,
                    "engine": self.name, "model": self.model}
            started = time.perf_counter()
            try:
                response = await client.chat.completions.create(**self._params(request, n))
                samples, prompt_tokens, completion_tokens = parse_samples(response)
            except FATAL as exc:
                if isinstance(exc, openai.BadRequestError) and n > 1 and self._rejects_n(exc):
                    self.supports_n = False  # e.g. reasoning models that only allow n=1
                    return await self._call(client, limiter, request, 1, call_key, on_call)
                change = self.dialect.adapt(getattr(exc, "status_code", None), error_of(exc))
                if change is not None and adaptations < 4:  # understood once; later requests go adapted
                    adaptations += 1
                    if change:
                        on_call({**call, "status": "adapted", "error": change,
                                 "latency_s": time.perf_counter() - started})
                    attempt -= 1
                    continue
                on_call({**call, "status": "error", "error": describe(exc), "latency_s": time.perf_counter() - started})
                raise LLMFatalError(f"{self.model} at {s.base_url or 'api.openai.com'} refused the request: {describe(exc)}") from None
            except (*RETRYABLE, MalformedResponse, json.JSONDecodeError) as exc:
                final = attempt == s.max_attempts
                on_call({**call, "status": "error" if final else "retry", "error": describe(exc),
                         "latency_s": time.perf_counter() - started})
                if not final:
                    await asyncio.sleep(self._delay(attempt, exc))
                continue
            call.update(status="ok", prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                        cost_usd=self._cost(prompt_tokens, completion_tokens), latency_s=time.perf_counter() - started,
                        reasoning_tokens=reasoning_tokens(response))
            return samples, call
        return None, None

    @staticmethod
    def _rejects_n(exc: BaseException) -> bool:
        return "'n'" in str(exc) or " n " in str(exc) or "n must" in str(exc)

    def _delay(self, attempt: int, exc: BaseException) -> float:
        hinted = retry_after_s(exc)
        if hinted is not None:
            return min(hinted, self.settings.backoff_max_s)
        ceiling = min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter spreads retries of concurrent requests

    @staticmethod
    def _estimate_tokens(request: LLMRequest, n: int) -> int:
        return sum(len(m.content) for m in request.messages) // 4 + request.max_tokens * n

    def _params(self, request: LLMRequest, n: int) -> dict:
        fields, extra = self.dialect.body(self.model, request, n)
        return {**fields, "extra_body": extra} if extra else fields
