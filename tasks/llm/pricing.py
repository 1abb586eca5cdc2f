"""Tasks layer (llm): what a request costs, from a dated built-in table or the engine's own.

Prices are USD per million tokens as the providers listed them on `PRICES_AS_OF` (standard
tier, uncached input); they change, so an engine's `prices:` overrides any entry. A model with
no known price has cost None ("unknown") and is never counted as free.
"""

from __future__ import annotations

from schemas.llm import EngineSettings, LLMRequest, Price

PRICES_AS_OF = "2025-08-15"
BUILT_IN: dict[str, tuple[float, float]] = {
    "o1": (15.0, 60.0),
    "o1-mini": (1.10, 4.40),
    "o3": (2.0, 8.0),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "deepseek-chat": (0.27, 1.10),
    "deepseek-reasoner": (0.55, 2.19),
}
# Models served on the user's own hardware cost nothing per token.
FREE = {"smollm2-135m-instruct"}


def price_of(settings: EngineSettings) -> Price | None:
    model = settings.model
    if model in settings.prices:
        return settings.prices[model]
    if settings.kind in ("local", "vllm") or model in FREE:
        return Price(input_per_mtok=0.0, output_per_mtok=0.0)
    base = model.split("/")[-1].lower()
    for name in (base, _undated(base)):
        if name in BUILT_IN:
            given_in, given_out = BUILT_IN[name]
            return Price(input_per_mtok=given_in, output_per_mtok=given_out)
    return None


def _undated(name: str) -> str:
    """'o4-mini-2025-04-16' -> 'o4-mini' (dated snapshots share the alias's price)."""
    parts = name.split("-")
    while len(parts) > 1 and parts[-1].isdigit():
        parts.pop()
    return "-".join(parts)


def cost_usd(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    if price is None:
        return None
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6


def prompt_tokens_guess(request: LLMRequest) -> int:
    """About 4 characters per token plus a few per message for the chat template."""
    return sum(len(m.content) for m in request.messages) // 4 + 4 * len(request.messages)

