"""Tasks layer (decontam): layer 5, an optional LLM judge for borderline pairs.

Asks the judge engine (`DecontamSettings.judge`, an `EngineSettings` like every LLM stage's)
whether a prompt is a copy of a benchmark item, one request per pair, temperature 0, through
`tasks.llm.client.LLMClient`: the response cache (a rerun sends nothing again), concurrency
and rate limits, retries, token and cost accounting and the `llm_calls` rows are the client's.
The API key stays in the environment variable the engine names. Off by default; the stage
stores each verdict on the pair's `decontam_reviews` row.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.llm import LLMRequest, Message
from tasks.llm.cache import Sample

SYSTEM = (
    "You check training data for benchmark contamination. Two math or programming problems "
    "follow. Answer YES if Problem A is the same problem as Problem B (possibly reworded, "
    "reformatted, shortened or wrapped in instructions) with the same mathematics: the same "
    "numbers, the same expressions and the same question. Answer NO if it is a different "
    "problem, even a similar one. Reply with one word: YES or NO."
)
TEMPLATE_VERSION = "decontam-judge-1"  # bump when SYSTEM or the user text changes (new cache keys)
MAX_TOKENS = 4  # one word
_MAX_CHARS = 4000  # per problem: the start of a long problem decides as well as all of it


@dataclass
class Verdict:
    verdict: str  # contaminated | clean | unclear | error
    reply: str


def messages(prompt: str, item: str) -> list[dict]:
    user = f"Problem A:\n{prompt[:_MAX_CHARS]}\n\nProblem B:\n{item[:_MAX_CHARS]}\n\nSame problem?"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def request(prompt: str, item: str) -> LLMRequest:
    """The judge's request for one pair: deterministic, so its cache key is stable."""
    return LLMRequest(messages=tuple(Message(**m) for m in messages(prompt, item)), temperature=0.0,
                      max_tokens=MAX_TOKENS, template_version=TEMPLATE_VERSION)


def parse(reply: str) -> str:
    word = reply.strip().strip(".*\"' ").upper()
    if word.startswith("YES"):
        return "contaminated"
    if word.startswith("NO"):
        return "clean"
    return "unclear"


def verdict_of(sample: Sample | None) -> Verdict:
    """A missing sample (the endpoint gave up after its retries) is an 'error' verdict."""
    if sample is None:
        return Verdict("error", "")
    return Verdict(parse(sample.text), sample.text[:200])


def ask(client, pairs: list[tuple[str, str]]) -> list[Verdict]:
    """Verdicts on (prompt, item) pairs, in order, one sample each through `client` (an LLMClient)."""
    if not pairs:
        return []
    answers = client.samples([request(prompt, item) for prompt, item in pairs], 1)
    return [verdict_of(samples[0]) for samples in answers]
