"""Tasks layer (llm): a few tiny requests that say what an endpoint is before money is spent.

`probe` sends one small question with n=2 (and at most a few more when a 400 teaches the
dialect something, or n is refused), then asks /models for the context length. It tells: the
dialect and what was adapted, whether reasoning is visible and through which channel, whether
n > 1 is honoured, the context length when the server says it (vLLM's `max_model_len`), and
whether a price is known. A hidden-reasoning teacher (usage counts reasoning tokens, the text
has none: OpenAI's o-series) is refused by `require_visible_reasoning` with one line.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import openai

from schemas.errors import UserError
from schemas.llm import LLMRequest, Message, Price
from tasks.llm.dialects import reasoning_channel
from tasks.llm.openai_engine import FATAL, OpenAIEngine, error_of, parse_samples, reasoning_tokens

QUESTION = "What is 2 + 3? Think briefly, then give the final answer in \\boxed{}."
PROBE_TOKENS = 512
MAX_REQUESTS = 4


@dataclass
class Probe:
    model: str
    endpoint: str
    dialect: str
    adapted: list[str] = field(default_factory=list)
    channel: str = "none"
    reasoning_tokens: int = 0
    n_honoured: bool | None = None
    context_length: int | None = None
    price: Price | None = None
    requests: int = 0
    cost_usd: float | None = 0.0
    answer: str = ""

    @property
    def reasoning_visible(self) -> bool:
        return self.channel != "none"

    @property
    def hidden_reasoning(self) -> bool:
        return not self.reasoning_visible and self.reasoning_tokens > 0

    def as_dict(self) -> dict:
        price = (f"${self.price.input_per_mtok}/M in, ${self.price.output_per_mtok}/M out" if self.price
                 else "unknown (set prices:)")
        return {"model": self.model, "endpoint": self.endpoint, "dialect": self.dialect,
                "adapted": ", ".join(self.adapted) or "nothing",
                "reasoning": (f"visible ({self.channel})" if self.reasoning_visible
                              else f"hidden ({self.reasoning_tokens} reasoning tokens)" if self.hidden_reasoning
                              else "none"),
                "n > 1": {True: "honoured", False: "not honoured (fans out)", None: "unknown"}[self.n_honoured],
                "context length": self.context_length or "not reported", "price": price,
                "probe requests": self.requests,
                "probe cost": "unknown" if self.cost_usd is None else f"${self.cost_usd:.6f}"}


def probe(engine: OpenAIEngine, on_call=None, system: str | None = None) -> Probe:
    s = engine.settings
    result = Probe(engine.model, s.base_url or "api.openai.com", engine.dialect.name, price=engine.price)
    client = openai.OpenAI(base_url=s.base_url, api_key=engine._api_key, max_retries=2, timeout=s.timeout_s)
    messages = ((Message(role="system", content=system),) if system else ()) + (Message(role="user", content=QUESTION),)
    request = LLMRequest(messages=messages, max_tokens=PROBE_TOKENS)
    n = 2
    try:
        while result.requests < MAX_REQUESTS:
            result.requests += 1
            started = time.perf_counter()
            call = {"call_id": uuid.uuid4().hex, "call_key": "preflight", "attempt": result.requests, "samples": n,
                    "engine": engine.name, "model": engine.model}
            try:
                response = client.chat.completions.create(**engine._params(request, n))
            except FATAL as exc:
                error = error_of(exc) or {}
                if n > 1 and "'n'" in str(exc) or error.get("param") == "n":
                    n, result.n_honoured = 1, False
                    continue
                change = engine.dialect.adapt(getattr(exc, "status_code", None), error)
                if change:
                    result.adapted.append(change)
                    _log(on_call, call, "adapted", started, error=change)
                    continue
                raise UserError(f"{engine.model} at {result.endpoint} refused the probe: {exc}"[:300]) from None
            samples, prompt_tokens, completion_tokens = parse_samples(response)
            cost = engine._cost(prompt_tokens, completion_tokens)
            result.cost_usd = None if cost is None or result.cost_usd is None else result.cost_usd + cost
            _log(on_call, call, "probe", started, prompt_tokens=prompt_tokens,
                 completion_tokens=completion_tokens, cost_usd=cost)
            if result.n_honoured is None:
                result.n_honoured = len(samples) >= 2
            first = samples[0]
            result.channel = first.channel or reasoning_channel(first.text, None, None)
            result.reasoning_tokens = reasoning_tokens(response)
            result.answer = first.text[-200:]
            break
        result.context_length = _context_length(client, engine.model)
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        raise UserError(f"cannot reach {result.endpoint} for {engine.model}: {type(exc).__name__}") from None
    finally:
        client.close()
    return result


def _log(on_call, call: dict, status: str, started: float, **more) -> None:
    if on_call is not None:
        on_call({**call, "status": status, "latency_s": time.perf_counter() - started, **more})


def _context_length(client: openai.OpenAI, model: str) -> int | None:
    """vLLM lists `max_model_len` on /v1/models; hosted APIs mostly say nothing."""
    try:
        for card in client.models.list().data:
            if card.id == model:
                value = (card.model_extra or {}).get("max_model_len") or (card.model_extra or {}).get("context_length")
                return int(value) if value else None
    except (openai.APIError, ValueError, TypeError):
        return None
    return None


def require_visible_reasoning(found: Probe) -> None:
    """One line, after the probe, for a teacher whose reasoning cannot be distilled. A teacher
    that shows no reasoning in one probe answer is left to the stage's own check (one small
    answer is not proof), hidden reasoning tokens are."""
    if found.hidden_reasoning:
        raise UserError(
            f"teacher {found.model} hides its reasoning ({found.reasoning_tokens} reasoning tokens, none returned): "
            "use an open reasoning model (vLLM with --reasoning-parser, DeepSeek's deepseek-reasoner) as teacher, "
            "keep o-series models for base/reference/judge work, or set allow_answer_only: true"
        )


def teacher_preflight(system: str, allow_answer_only: bool):
    """The hook a teacher's LLMClient runs before its first real batch (OpenAI-compatible engines only)."""

    def check(engine, log) -> Probe | None:
        if allow_answer_only or not isinstance(engine, OpenAIEngine) or engine.name == "openai_batch":
            return None  # nothing to refuse; in-process vLLM, a test double, or batches (use check-engine)
        found = probe(engine, log, system=system)
        require_visible_reasoning(found)
        return found

    return check
