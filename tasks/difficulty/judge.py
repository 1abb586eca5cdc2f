"""Tasks layer (difficulty): the optional LLM judge — verdicts for `open` prompts and 1-10 ratings.

`open` prompts have no automatic verifier: the judge reads the problem, the reference answer and
one response and answers CORRECT or INCORRECT (a judge-verified verdict, method "judge"). The
same engine can rate every prompt's difficulty 1-10 with a one-line rationale (the report used
LLM-based evaluators besides pass rates); ratings go to `difficulty_ratings`. Requests go through
`LLMClient` (cached, retried, logged); a failed request is None, never a verdict or a rating.
"""

from __future__ import annotations

import re

from schemas.llm import LLMRequest, Message
from tasks.llm.cache import Sample
from tasks.llm.client import LLMClient
from tasks.verify import Verdict, extract_final_answer

JUDGE_TEMPLATE = "judge-1"
RATING_TEMPLATE = "rating-1"
JUDGE_PROMPT = """You grade a response against a reference answer.

Problem:
{problem}

Reference answer:
{reference}

Response:
{response}

Does the response reach the reference answer (same meaning; wording may differ)? \
Reply with one word on the last line: CORRECT or INCORRECT."""
RATING_PROMPT = """How difficult is this problem for a strong student? Rate it from 1 (trivial) to \
10 (olympiad-hard). Reply on one line exactly as: RATING: <1-10> | <one-line rationale>

Problem:
{problem}"""
_JUDGEMENT = re.compile(r"\b(INCORRECT|CORRECT)\b")
_RATING = re.compile(r"RATING:\s*(10|[1-9])\b\s*(?:\|\s*(.*))?", re.IGNORECASE)
MAX_RESPONSE_CHARS = 6000  # the judge sees the end of a long response, where the answer is


def parse_judgement(text: str) -> bool | None:
    found = _JUDGEMENT.findall(text.upper())
    return None if not found else found[-1] == "CORRECT"


def parse_rating(text: str) -> tuple[int, str] | None:
    match = _RATING.search(text)
    if not match:
        return None
    rationale = (match.group(2) or "").strip()
    return int(match.group(1)), rationale.splitlines()[0][:300] if rationale else ""


def _request(content: str, template: str, max_tokens: int) -> LLMRequest:
    return LLMRequest(messages=(Message(role="user", content=content),), temperature=0.0, max_tokens=max_tokens,
                      template_version=template)


class Judge:
    def __init__(self, client: LLMClient, max_tokens: int = 256):
        self.client, self.max_tokens = client, max_tokens

    @property
    def model(self) -> str:
        return self.client.settings.model

    def verdicts(self, problem: str, reference: str, samples: list[Sample]) -> list[Verdict | None]:
        """One judge-verified verdict per response; None where the judge's request failed."""
        requests = [_request(JUDGE_PROMPT.format(problem=problem, reference=reference,
                                                 response=s.text[-MAX_RESPONSE_CHARS:]), JUDGE_TEMPLATE,
                             self.max_tokens) for s in samples]
        out: list[Verdict | None] = []
        for sample, replies in zip(samples, self.client.samples(requests, 1)):
            reply = replies[0]
            if reply is None:
                out.append(None)
                continue
            judged = parse_judgement(reply.text)
            extracted = extract_final_answer(sample.text)
            if judged is None:
                out.append(Verdict(False, extracted, "judge", "error: judge gave no verdict"))
            else:
                out.append(Verdict(judged, extracted, "judge", None if judged else "mismatch"))
        return out

    def ratings(self, problems: list[str]) -> list[tuple[int, str] | None]:
        """(rating 1-10, rationale) per problem; None where the request failed or said no rating."""
        requests = [_request(RATING_PROMPT.format(problem=p), RATING_TEMPLATE, self.max_tokens) for p in problems]
        return [parse_rating(r[0].text) if r[0] is not None else None for r in self.client.samples(requests, 1)]
