"""Tasks layer (llm): what an OpenAI-compatible request may carry, per model family.

Two request dialects:
- `chat`: max_tokens, temperature, top_p (vLLM, DeepSeek, OpenAI's GPT-4 family, ...).
- `reasoning`: OpenAI's o1/o3/o4/gpt-5 families (or any model marked `reasoning: true`): they
  refuse `max_tokens` ("Unsupported parameter: 'max_tokens' is not supported with this model.
  Use 'max_completion_tokens' instead.", code `unsupported_parameter`) and any temperature or
  top_p but the default ("Only the default (1) value is supported.", code `unsupported_value`),
  and take `reasoning_effort`.
A 400 that names one parameter (`error.param`) is understood once: `adapt` returns the change
(rename to max_completion_tokens, or drop) that the engine applies to every later request and
records; a 400 it cannot understand stays fatal.

Reasoning comes back through one of several channels, named by `reasoning_channel` and stored
with each trace: `reasoning_content` (DeepSeek API, vLLM < 0.10), `reasoning` (vLLM >= 0.10
with --reasoning-parser, OpenRouter), `think_tags` (inline `<think>…</think>` at the start),
`template_think` (the chat template opened `<think>` in the prompt, so the text is
`reasoning </think> answer`), or `none`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from schemas.llm import EngineSettings, LLMRequest

OPEN, CLOSE = "<think>", "</think>"
# o1, o1-mini, o3, o3-mini, o4-mini, gpt-5, gpt-5-mini, gpt-5.1 ..., with an optional provider prefix.
_REASONING_NAME = re.compile(r"^(?:[\w.-]+/)?(?:o[1-9](?:$|[-.])|gpt-5(?:$|[-.]))", re.IGNORECASE)
CHANNELS = ("reasoning_content", "reasoning", "think_tags", "template_think", "none")


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_NAME.match(model.strip()))


def dialect_of(settings: EngineSettings) -> str:
    reasoning = settings.reasoning if settings.reasoning is not None else is_reasoning_model(settings.model)
    return "reasoning" if reasoning else "chat"


@dataclass
class Dialect:
    """The request shape for one engine; `renamed`/`dropped` grow as 400s teach it."""

    name: str
    reasoning_effort: str | None = None
    send_sampling: bool = True
    extra: dict = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)
    learned: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, settings: EngineSettings) -> Dialect:
        name = dialect_of(settings)
        sampling = settings.sampling_params if settings.sampling_params is not None else name == "chat"
        renamed = {"max_tokens": "max_completion_tokens"} if name == "reasoning" else {}
        return cls(name, settings.reasoning_effort, sampling, dict(settings.params), renamed)

    def body(self, model: str, request: LLMRequest, n: int) -> tuple[dict, dict]:
        """(named SDK arguments, extra_body) for one chat completion."""
        fields: dict = {"model": model, "messages": [m.model_dump() for m in request.messages], "n": n,
                        "max_tokens": request.max_tokens}
        if self.send_sampling:
            fields.update(temperature=request.temperature, top_p=request.top_p)
        if request.seed is not None:
            fields["seed"] = request.seed
        if request.stop:
            fields["stop"] = list(request.stop)
        if self.reasoning_effort:
            fields["reasoning_effort"] = self.reasoning_effort
        for old, new in self.renamed.items():
            if old in fields:
                fields[new] = fields.pop(old)
        for name in self.dropped:
            fields.pop(name, None)
        extra = {**dict(request.extra), **self.extra}
        for name in self.dropped:
            extra.pop(name, None)
        return fields, extra

    def adapt(self, status: int | None, error: dict | None) -> str | None:
        """The change a 400 asks for, applied here ("" when already applied); None when the error
        names nothing we can fix."""
        if status != 400 or not isinstance(error, dict):
            return None
        param, message = error.get("param"), str(error.get("message") or "")
        if not param:
            found = re.search(r"Unsupported (?:parameter|value): '([\w.]+)'", message)
            param = found.group(1) if found else None
        if not param or param in ("model", "messages"):
            return None
        if param in self.dropped or param in self.renamed:
            return ""  # a request in flight before another one taught us: resend, nothing new
        if param == "max_tokens" and "max_completion_tokens" in message:
            self.renamed["max_tokens"] = "max_completion_tokens"
            change = "max_tokens -> max_completion_tokens"
        elif "unsupported" in message.lower() or "not supported" in message.lower():
            self.dropped.add(param)
            change = f"dropped {param}"
        else:
            return None
        self.learned.append(change)
        return change


def reasoning_channel(text: str, field_name: str | None, field_text: str | None) -> str:
    """Which channel a response's reasoning came through (see the module docstring)."""
    if field_name and (field_text or "").strip():
        return field_name
    stripped = text.lstrip()
    if stripped.startswith(OPEN) and CLOSE in stripped:
        return "think_tags"
    if OPEN not in text and text.count(CLOSE) == 1 and text.split(CLOSE, 1)[0].strip():
        return "template_think"
    return "none"
