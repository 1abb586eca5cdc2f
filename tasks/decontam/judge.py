"""Tasks layer (decontam): layer 5, an optional LLM judge for borderline pairs.

Asks an OpenAI-compatible endpoint (a local vLLM server, OpenAI, ...) whether a prompt is a
copy of a benchmark item, one pair per request, temperature 0. The API key is read from the
environment variable the settings name, at call time; it is never logged, returned or
stored. Every request becomes one `llm_calls` record (tokens, latency, status). Off by
default; the stage stores each verdict on the pair's `decontam_reviews` row.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass

from schemas.decontam import DecontamSettings
from schemas.records import LLMCall
from tasks.runs import now

SYSTEM = (
    "You check training data for benchmark contamination. Two math or programming problems "
    "follow. Answer YES if Problem A is the same problem as Problem B (possibly reworded, "
    "reformatted, shortened or wrapped in instructions) with the same mathematics: the same "
    "numbers, the same expressions and the same question. Answer NO if it is a different "
    "problem, even a similar one. Reply with one word: YES or NO."
)
_MAX_CHARS = 4000  # per problem: the start of a long problem decides as well as all of it


@dataclass
class Verdict:
    verdict: str  # contaminated | clean | unclear | error
    reply: str
    call: LLMCall


def messages(prompt: str, item: str) -> list[dict]:
    user = f"Problem A:\n{prompt[:_MAX_CHARS]}\n\nProblem B:\n{item[:_MAX_CHARS]}\n\nSame problem?"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse(reply: str) -> str:
    word = reply.strip().strip(".*\"' ").upper()
    if word.startswith("YES"):
        return "contaminated"
    if word.startswith("NO"):
        return "clean"
    return "unclear"


class Judge:
    def __init__(self, settings: DecontamSettings, run_id: str):
        from openai import OpenAI

        self.settings, self.run_id = settings, run_id
        # A local server needs no key; the client insists on one, so send a placeholder.
        key = os.environ.get(settings.judge_api_key_env) or "not-needed"
        self.client = OpenAI(base_url=settings.judge_base_url, api_key=key,
                             timeout=settings.judge_timeout_s, max_retries=2)

    def ask(self, prompt: str, item: str) -> Verdict:
        chat = messages(prompt, item)
        call_key = hashlib.blake2b(json.dumps([self.settings.judge_model, chat]).encode(),
                                   digest_size=16).hexdigest()
        started = time.perf_counter()
        record = dict(call_id=uuid.uuid4().hex, call_key=call_key, attempt=1, run_id=self.run_id, stage="decontaminate",
                      engine="openai", model=self.settings.judge_model, created_at=now())
        try:
            response = self.client.chat.completions.create(
                model=self.settings.judge_model, messages=chat, temperature=0.0, max_tokens=4)
        except Exception as exc:  # noqa: BLE001 - any transport/API failure is an 'error' verdict
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            call = LLMCall(**record, status="error", error=error, latency_s=time.perf_counter() - started)
            return Verdict("error", "", call)
        reply = (response.choices[0].message.content or "") if response.choices else ""
        usage = response.usage
        call = LLMCall(**record, status="ok", latency_s=round(time.perf_counter() - started, 4),
                       prompt_tokens=usage.prompt_tokens if usage else None,
                       completion_tokens=usage.completion_tokens if usage else None)
        return Verdict(parse(reply), reply[:200], call)
