"""Tasks layer (rewrite): turn prompts whose answer cannot be verified into short-answer form.

Candidates are kept, uncontaminated prompts that are proofs ("show that", "prove"),
multi-part, multiple choice, or whose answer is missing or unparseable. A versioned prompt asks
the rewriter for JSON {problem, answer, answer_type}; every rewrite is validated (JSON, answer
parses for its type, answer not leaked in the problem, the original's numbers kept, optional
solver agreement) and stored in `rewrites`, accepted or rejected with its reason.
Only prompts checked by short answers (math and other answer domains) are candidates: code and
multiple-choice prompts have their own verifiers and pass through (counted by domain), so code
never reaches the math rewrite prompt. Failed requests decide nothing (a rerun asks again); a
run where most failed stops with one line. SQL lives in store.py.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from schemas.errors import UserError
from schemas.llm import LLMRequest, Message
from schemas.traces import RewriteSettings
from tasks.llm.base import Engine
from tasks.llm.cache import Sample
from tasks.llm.client import EngineFactory, LLMClient
from tasks.rewrite import store
from tasks.runs import Funnel
from tasks.stage import StageContext
from tasks.text import numbers
from tasks.verify import verifier_of, verify_answer
from warehouse.lake import Lake

ANSWER_TYPES = ("number", "expression", "set", "interval")
REWRITE_PROMPT = """Rewrite the problem below into a self-contained problem with a single short, \
verifiable final answer (a number, an expression, a set or an interval). Keep all of its \
mathematics: the same quantities, conditions and numbers. Do not put the answer in the problem.
Reply with JSON only: {{"problem": "...", "answer": "...", "answer_type": "number|expression|set|interval"}}

Problem:
{problem}"""
_PROOF = re.compile(r"\b(prove|show that|demonstrate that|justify)\b", re.I)
_PARTS = re.compile(r"(^|\s)\((?:a|b|c|i|ii|iii)\)\s")
_CHOICES = re.compile(r"\(?\b[A-E]\)\s|\\textbf\{\(A\)", re.M)


def rewrite_reason(problem: str, answer: str | None) -> str | None:
    """Why a prompt needs rewriting, or None when its answer is verifiable as it is."""
    if _PROOF.search(problem):
        return "proof"
    if len(_PARTS.findall(problem)) >= 2:
        return "multi_part"
    if len(_CHOICES.findall(problem)) >= 3:
        return "multiple_choice"
    if not answer:
        return "no_answer"
    if not short_form(answer, None):
        return "unparseable_answer"
    return None


_PROSE = re.compile(r"\b[a-zA-Z]{3,}\b")
_NUMBER = re.compile(r"-?\d+(\.\d+)?(/\d+)?")


def short_form(answer: str, kind: str | None) -> bool:
    """A short answer a verifier can check: one line, not prose; a number if it says so."""
    text = answer.strip().strip("$").replace(",", "").rstrip("%")
    if not text or len(text) > 80 or "\n" in text:
        return False
    words = [w for w in _PROSE.findall(text) if not text[max(0, text.find(w) - 1)] == "\\"]
    if len(words) >= 3:
        return False
    return kind != "number" or bool(_NUMBER.fullmatch(text))


def parse_json_object(text: str) -> dict | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def answer_leaked(problem: str, answer: str) -> bool:
    pattern = r"(?<![\w.])" + re.escape(answer.strip()) + r"(?!\w|\.\d)"
    return bool(answer.strip()) and re.search(pattern, problem) is not None


def validate(original: str, text: str, min_number_overlap: float) -> tuple[dict | None, str | None]:
    """(rewrite, None) when valid, else (partial rewrite or None, reason)."""
    data = parse_json_object(text)
    if data is None:
        return None, "invalid_json"
    problem, answer, kind = data.get("problem"), data.get("answer"), data.get("answer_type")
    if not isinstance(problem, str) or not problem.strip() or answer in (None, ""):
        return None, "missing_field"
    answer = str(answer).strip()
    rewrite = {"problem": problem.strip(), "answer": answer, "answer_type": kind}
    if kind not in ANSWER_TYPES:
        return rewrite, "bad_answer_type"
    if not short_form(answer, kind):
        return rewrite, "unparseable_answer"
    if answer_leaked(problem, answer):
        return rewrite, "answer_leaked"
    wanted = set(numbers(original))
    if wanted and len(wanted & set(numbers(problem))) / len(wanted) < min_number_overlap:
        return rewrite, "lost_mathematics"
    return rewrite, None


@dataclass
class RewriteReport:
    run_id: str
    candidates: int = 0
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)
    why_rewritten: Counter = field(default_factory=Counter)
    passed_through: Counter = field(default_factory=Counter)  # by domain: own verifier, no rewrite
    pending: int = 0  # requests failed: no decision, a rerun asks again
    llm: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"candidates": self.candidates, "accepted": self.accepted, "rejected": dict(self.rejected),
                "why_rewritten": dict(self.why_rewritten), "passed_through": dict(self.passed_through),
                "pending": self.pending, "llm": dict(self.llm)}

    def funnel(self) -> Funnel:
        return Funnel(self.candidates, self.accepted, {**self.rejected, "pending": self.pending})


def select_candidates(lake: Lake, limit: int | None, passed_through: Counter | None = None) -> list[dict]:
    picked = []
    for row in store.unrewritten(lake):
        if verifier_of(row["domain"]) != "answer":
            if passed_through is not None:
                passed_through[row["domain"]] += 1
            continue
        reason = rewrite_reason(row["problem"], row["answer"])
        if reason:
            picked.append({**row, "why": reason})
            if limit and len(picked) >= limit:
                break
    return picked


class RewriteStage:
    def __init__(self, lake: Lake, settings: RewriteSettings, run_id: str, cache_path: Path,
                 engine: Engine | None = None, solver_engine: Engine | None = None,
                 factory: EngineFactory | None = None):
        self.lake, self.settings, self.run_id = lake, settings, run_id
        self.client = LLMClient(settings.rewriter, cache_path, run_id=run_id, stage="rewrite", engine=engine,
                                factory=factory)
        self.solver = (LLMClient(settings.solver, cache_path, run_id=run_id, stage="rewrite", engine=solver_engine,
                                 factory=factory)
                       if settings.solver else None)
        self.report = RewriteReport(run_id)

    def request(self, problem: str) -> LLMRequest:
        s = self.settings
        content = REWRITE_PROMPT.format(problem=problem)
        return LLMRequest(messages=(Message(role="user", content=content),), temperature=s.temperature,
                          max_tokens=s.max_tokens, template_version=s.prompt_version)

    def run(self) -> RewriteReport:
        candidates = select_candidates(self.lake, self.settings.limit, self.report.passed_through)
        self.report.candidates = len(candidates)
        try:
            samples = self.client.samples([self.request(c["problem"]) for c in candidates], self.settings.attempts)
            rows = [self._decide(c, s) for c, s in zip(candidates, samples) if all(x is not None for x in s)]
            self.report.pending = len(candidates) - len(rows)
            rows = self._solver_check(rows)
            for row in rows:
                if row["status"] == "accepted":
                    self.report.accepted += 1
                else:
                    self.report.rejected[row["reason"]] += 1
            store.write_rewrites(self.lake, rows)
        finally:
            errors: Counter = Counter()
            for client in filter(None, (self.client, self.solver)):
                client.flush(self.lake)
                self.report.llm += client.stats
                errors += client.errors
                client.close()
        failed, asked = self.report.llm["samples_failed"], self._asked()
        if failed and failed > asked / 2:
            why = errors.most_common(1)[0][0] if errors else "no response"
            raise UserError(f"rewrite: {failed} of {asked} samples failed ({why}); "
                            f"{self.report.pending} prompts left for the next run")
        return self.report

    def _asked(self) -> int:
        llm = self.report.llm
        return llm["samples_failed"] + llm["samples_generated"] + llm["samples_cached"]

    def _decide(self, candidate: dict, samples: list[Sample]) -> dict:
        self.report.why_rewritten[candidate["why"]] += 1
        rewrite, reason = None, "no_attempt"
        for sample in samples:  # the first valid attempt wins
            rewrite, reason = validate(candidate["problem"], sample.text, self.settings.min_number_overlap)
            if reason is None:
                break
        rewrite = rewrite or {}
        return {"prompt_id": candidate["prompt_id"], "rewritten_problem": rewrite.get("problem"),
                "answer": rewrite.get("answer"), "answer_type": rewrite.get("answer_type"),
                "status": "accepted" if reason is None else "rejected",
                "reason": reason or f"rewritten: {candidate['why']}", "run_id": self.run_id}

    def _solver_check(self, rows: list[dict]) -> list[dict]:
        accepted = [r for r in rows if r["status"] == "accepted"]
        if self.solver is None or not accepted:
            return rows
        s = self.settings
        requests = [LLMRequest(messages=(Message(role="user", content=r["rewritten_problem"] + "\nPut the final answer in \\boxed{}."),),
                               max_tokens=s.max_tokens, template_version="solver-1") for r in accepted]
        undecided = set()
        for row, samples in zip(accepted, self.solver.samples(requests, s.solver_samples)):
            if any(x is None for x in samples):
                undecided.add(row["prompt_id"])  # a failed solver sample is no vote: ask again next run
                continue
            agree = sum(1 for x in samples if verify_answer(x.text, row["answer"]).correct)
            if agree / len(samples) < s.solver_min_agreement:
                row.update(status="rejected", reason="solver_disagrees")
        self.report.pending += len(undecided)
        return [row for row in rows if row["prompt_id"] not in undecided]


def run_rewrite(lake: Lake, settings: RewriteSettings, run_id: str, cache_path: Path, engine: Engine | None = None,
                factory: EngineFactory | None = None) -> RewriteReport:
    return RewriteStage(lake, settings, run_id, cache_path, engine, factory=factory).run()


READS = ("prompts",)
WRITES = ("rewrites", "llm_calls")


def run(ctx: StageContext, settings: RewriteSettings) -> RewriteReport:
    return run_rewrite(ctx.lake, settings, ctx.run_id, ctx.cache_path, factory=ctx.make_engine)


def estimate(ctx: StageContext, settings: RewriteSettings) -> dict:
    """The dry run (tasks.llm.estimate): the rewriter's requests for every candidate (the optional
    solver's depend on which rewrites are accepted: left out); sends nothing, writes nothing."""
    from types import SimpleNamespace

    from tasks.llm.estimate import estimate as estimate_llm

    candidates = select_candidates(ctx.lake, settings.limit)
    builder = SimpleNamespace(settings=settings)  # the stage's own request builder, so the cache keys match
    requests = [RewriteStage.request(builder, c["problem"]) for c in candidates]  # type: ignore[arg-type]
    return {"prompts": len(candidates), **estimate_llm(ctx.cache_path, "rewrite", [(settings.rewriter, requests,
                                                                                   settings.attempts)])}
