"""Tasks layer (verify): which verifier a prompt gets, chosen by its `domain`.

Contract:
- `verifier_of(domain)`: "code" (tests in the sandbox), "choice" (option letter or option
  text), "judge" (`open`: no automatic check, an LLM judge decides) or "answer" (math and any
  other domain with a short final answer: `verify_answer`).
- `parse_choices(value)` and `choice_answer(answer, choices)`: option texts and the reference
  letter of multiple-choice records (lists, {"label", "text"} as in ARC, or {"A": ...} maps).
- `spec_of(extra)`: the verification spec ingest stored in a prompt's `extra` JSON (key
  `VERIFY_KEY`), or {}.
- `verify_prompt_response(domain, response, answer, spec) -> Verdict`: one sample checked the way
  its prompt's domain says; never raises for model output. `checkable(domain, answer, spec)`
  says whether a prompt has anything to check against without a label from a model.
"""

from __future__ import annotations

import json
import string

from tasks.verify.codetests import verify_code
from tasks.verify.extract import extract_choice, extract_final_answer
from tasks.verify.math import verify_answer
from tasks.verify.normalize import choice_letter, normalize_string
from tasks.verify.verdict import Verdict

DOMAINS = ("math", "code", "choice", "open")
VERIFY_KEY = "_verify"
LETTERS = string.ascii_uppercase[:10]


def verifier_of(domain: str | None) -> str:
    return {"code": "code", "choice": "choice", "open": "judge"}.get(domain or "math", "answer")


def parse_choices(value: object) -> list[str] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict) and isinstance(value.get("text"), list):  # ARC: {"label", "text"}
        value = value["text"]
    elif isinstance(value, dict) and value and all(choice_letter(str(k)) for k in value):
        value = [value[k] for k in sorted(value)]
    if isinstance(value, list) and 2 <= len(value) <= len(LETTERS) and all(
            isinstance(v, (str, int, float)) for v in value):
        return [str(v) for v in value]
    return None


def choice_answer(answer: object, choices: list[str]) -> str | None:
    """The reference as an option letter: a letter, an option's text, or a 0-based index."""
    if isinstance(answer, bool) or answer is None:
        return None
    if isinstance(answer, int):
        return LETTERS[answer] if 0 <= answer < len(choices) else None
    text = str(answer).strip()
    letter = choice_letter(text)
    if letter and LETTERS.index(letter) < len(choices):
        return letter
    wanted = normalize_string(text)
    for index, option in enumerate(choices):
        if normalize_string(option) == wanted:
            return LETTERS[index]
    if text.isdigit() and int(text) < len(choices):
        return LETTERS[int(text)]
    return None


def render_choices(problem: str, choices: list[str]) -> str:
    """The problem with its options listed, unless the text already lists them with their letters."""
    def listed(index: int, option: str) -> bool:
        letter = LETTERS[index]
        return any(f"{form}{option}" in problem for form in (f"{letter}. ", f"({letter}) ", f"{letter}) ", f"{letter}: "))

    if all(listed(i, option) for i, option in enumerate(choices)):
        return problem
    lines = "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(choices))
    return f"{problem}\n\n{lines}"


def spec_of(extra: str | None) -> dict:
    if not extra:
        return {}
    try:
        spec = json.loads(extra).get(VERIFY_KEY)
    except (ValueError, AttributeError):
        return {}
    return spec if isinstance(spec, dict) else {}


def checkable(domain: str | None, answer: str | None, spec: dict) -> bool:
    kind = verifier_of(domain)
    if kind == "code":
        return bool(spec.get("kind"))
    return bool(answer) and kind != "judge"


def _choice_verdict(response: str, letter: str, choices: list[str]) -> Verdict:
    got = extract_choice(response)
    if got is None and choices:  # "the answer is Paris": match the option text
        final = extract_final_answer(response)
        wanted = normalize_string(final) if final else None
        for index, option in enumerate(choices):
            if wanted and normalize_string(option) == wanted:
                got = LETTERS[index]
    if got is None:
        return Verdict(False, None, "choice", "no_answer")
    return Verdict(got == letter, got, "choice", None if got == letter else "mismatch")


def verify_prompt_response(domain: str | None, response: str, answer: str | None, spec: dict, *,
                           timeout_s: float = 10.0, memory_mb: int = 1024) -> Verdict:
    kind = verifier_of(domain)
    if not isinstance(response, str):
        response = ""
    if kind == "code":
        if not spec.get("kind"):
            return Verdict(False, None, "code", "error: prompt has no tests")
        return verify_code(response, spec, timeout_s=timeout_s, memory_mb=memory_mb)
    if not answer:
        return Verdict(False, extract_final_answer(response), "none", "no_reference")
    if kind == "choice":
        return _choice_verdict(response, answer, spec.get("choices") or [])
    return verify_answer(response, answer, timeout_s=min(timeout_s, 5.0))
