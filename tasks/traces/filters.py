"""Tasks layer (traces): pure checks of one teacher response, each failure a named reason.

Reasoning comes either separately (`reasoning_content` / `reasoning` fields, wrapped in think
tags by the caller), inline as exactly one `<think>…</think>` block at the start, or after a
think block the chat template opened in the prompt (R1/QwQ without a reasoning parser: the text
is `reasoning </think> answer`). Checks, in
order: empty, truncated, reasoning form, length, repetition (share of repeated word 5-grams,
as in the Phi-4 report's RL reward), then the final answer against the label.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.llm.cache import Sample
from tasks.verify import verifier_of, verify_prompt_response

OPEN, CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class Checked:
    status: str  # kept | dropped
    reason: str | None
    reasoning: str | None = None
    solution: str | None = None
    final_answer: str | None = None
    correct: bool | None = None


def split_reasoning(text: str, separate: str | None, allow_answer_only: bool) -> tuple[str, str] | str:
    """(reasoning, solution) or the reason the response has no usable reasoning."""
    if separate and separate.strip():
        if OPEN in text or CLOSE in text:
            return "malformed_think"  # reasoning twice: separately and inline
        return separate.strip(), text.strip()
    opens, closes = text.count(OPEN), text.count(CLOSE)
    if opens == 0 and closes == 0:
        return ("", text.strip()) if allow_answer_only else "no_reasoning"
    if opens == 0 and closes == 1:  # the template opened the block in the prompt
        reasoning, solution = text.split(CLOSE, 1)
        return (reasoning.strip(), solution.strip()) if reasoning.strip() else "malformed_think"
    if opens != 1 or closes != 1 or text.index(OPEN) > text.index(CLOSE):
        return "malformed_think"
    before, rest = text.split(OPEN, 1)
    reasoning, solution = rest.split(CLOSE, 1)
    if before.strip() or not reasoning.strip():
        return "malformed_think"
    return reasoning.strip(), solution.strip()


def repetition_ratio(text: str, n: int = 5) -> float:
    words = text.split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def has_reasoning(sample: Sample) -> bool:
    return bool((sample.reasoning or "").strip()) or OPEN in sample.text or CLOSE in sample.text


def check_response(sample: Sample, label: str | None, *, allow_answer_only: bool, min_tokens: int,
                   max_tokens: int, max_repetition: float, domain: str | None = None,
                   spec: dict | None = None) -> Checked:
    if not sample.text.strip() and not (sample.reasoning or "").strip():
        return Checked("dropped", "empty")
    if sample.finish_reason == "length":
        return Checked("dropped", "truncated")
    parts = split_reasoning(sample.text, sample.reasoning, allow_answer_only)
    if isinstance(parts, str):
        return Checked("dropped", parts)
    reasoning, solution = parts
    if sample.completion_tokens < min_tokens:
        return Checked("dropped", "too_short", reasoning, solution)
    if sample.completion_tokens > max_tokens:
        return Checked("dropped", "too_long", reasoning, solution)
    if repetition_ratio(f"{reasoning} {solution}") > max_repetition:
        return Checked("dropped", "repetitive", reasoning, solution)
    if label is None and verifier_of(domain) != "code":  # code is checked by its tests
        return Checked("dropped", "no_reference", reasoning, solution)
    verdict = verify_prompt_response(domain, solution, label, spec or {})
    if verdict.extracted is None:
        return Checked("dropped", "no_answer", reasoning, solution, None, False)
    if not verdict.correct:
        return Checked("dropped", "wrong_answer", reasoning, solution, verdict.extracted, False)
    return Checked("kept", None, reasoning, solution, verdict.extracted, True)
