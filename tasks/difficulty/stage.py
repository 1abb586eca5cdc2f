"""Tasks layer (difficulty): sample the base model N times per prompt and band its pass rate.

Reads kept, uncontaminated prompts without a final `difficulty` row for the base model; writes
every sample to `difficulty_samples` and one summary row to `difficulty`, a chunk of prompts per
transaction. Each sample is checked by its prompt's verifier (`tasks.verify.domains`: math
answers, code tests in the sandbox, option letters). Prompts with nothing to check against get a
proxy label only from a configured, stronger `reference` model (plurality of K samples, Phi-4's
method; `ambiguous` when it disagrees with itself); without one they stay `unlabelled` (no row,
counted in the funnel), never labelled by the base model's own votes. `open` prompts are graded
by an optional LLM judge (judge.py; also the optional 1-10 ratings in `difficulty_ratings`).
Truncated samples (finish_reason "length") are `incomplete`: stored, but no vote and not wrong;
a prompt with fewer than `min_complete` complete samples is banded `incomplete` (rescored by the
next run). A sample the endpoint failed to return is never a vote: its prompt stays unbanded
for the next run, and a run where most samples failed stops with one line saying why.
Accepted rewrites are scored like any prompt, as `<seed id>:rewrite` with `seed_prompt_id` lineage,
so a rewrite carries its own band and pass rate (store.py selects them after the seeds).
Samples come through `LLMClient`, so reruns and crash-resumes send nothing twice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from schemas.difficulty import DifficultySettings
from schemas.errors import UserError
from schemas.llm import LLMRequest, Message
from tasks.difficulty import store
from tasks.difficulty.judge import Judge
from tasks.llm.base import Engine
from tasks.llm.cache import Sample
from tasks.llm.client import EngineFactory, LLMClient
from tasks.runs import Funnel
from tasks.stage import StageContext
from tasks.verify import (
    canonical_answer,
    checkable,
    extract_choice,
    extract_final_answer,
    spec_of,
    verifier_of,
    verify_prompt_response,
)
from warehouse.lake import Lake

PROXY_TEMPLATE = "proxy-1"
SCORE_TEMPLATE = "score-1"
READS = ("prompts",)
WRITES = ("difficulty", "difficulty_samples", "llm_calls")


@dataclass
class PromptToScore:
    prompt_id: str
    problem: str
    answer: str | None
    domain: str = "math"
    spec: dict = field(default_factory=dict)
    seed: str | None = None  # for an accepted rewrite: the prompt it was rewritten from


@dataclass
class Label:
    answer: str | None
    source: str  # reference | proxy | rating
    agreement: float | None = None
    model: str | None = None


@dataclass
class DifficultyReport:
    run_id: str
    model: str
    considered: int = 0
    scored: int = 0
    pending: int = 0  # samples the endpoint failed to return: left for the next run
    unlabelled: int = 0
    samples_incomplete: int = 0
    ratings: int = 0
    rating_pass: dict = field(default_factory=lambda: defaultdict(list))  # rating -> pass rates
    bands: Counter = field(default_factory=Counter)
    domains: dict = field(default_factory=lambda: defaultdict(Counter))
    correct_histogram: Counter = field(default_factory=Counter)
    llm: Counter = field(default_factory=Counter)
    n: int = 0  # samples asked per prompt

    def as_dict(self) -> dict:
        return {
            "considered": self.considered, "scored": self.scored, "pending": self.pending,
            "unlabelled": self.unlabelled, "samples_incomplete": self.samples_incomplete, "ratings": self.ratings,
            "rating_vs_pass_rate": {str(r): {"prompts": len(v), "mean_pass_rate": round(sum(v) / len(v), 3)}
                                    for r, v in sorted(self.rating_pass.items()) if v},
            "bands": dict(self.bands), "domains": {d: dict(c) for d, c in sorted(self.domains.items())},
            "correct_histogram": {str(k): v for k, v in sorted(self.correct_histogram.items())},
            "llm": dict(self.llm),
        }

    def funnel(self) -> Funnel:
        """Teachable prompts go on; the other bands, unlabelled and pending prompts stop here."""
        stopped = {band: n for band, n in self.bands.items() if band != "teachable"}
        return Funnel(self.considered, self.bands.get("teachable", 0),
                      {**stopped, "unlabelled": self.unlabelled, "pending": self.pending})

    def count(self, domain: str, outcome: str) -> None:
        self.domains[domain][outcome] += 1


def build_request(settings: DifficultySettings, problem: str, template: str) -> LLMRequest:
    return LLMRequest(
        messages=(Message(role="system", content=settings.system_prompt), Message(role="user", content=problem)),
        temperature=settings.temperature, top_p=settings.top_p, max_tokens=settings.max_tokens,
        seed=settings.seed, template_version=template,
    )


def truncated(sample: Sample) -> bool:
    return sample.finish_reason == "length"


def vote_of(domain: str, text: str) -> tuple[str, str] | None:
    """(grouping key, the answer as written) of one reference sample, or None."""
    if verifier_of(domain) == "choice":
        letter = extract_choice(text)
        return (letter, letter) if letter else None
    extracted = extract_final_answer(text)
    return (canonical_answer(extracted), extracted) if extracted else None


def plurality(samples: list[Sample], domain: str = "math") -> tuple[str | None, float]:
    """Most common answer among the complete samples and its share of all samples given."""
    votes: Counter = Counter()
    first_form: dict[str, str] = {}
    for sample in samples:
        vote = vote_of(domain, sample.text) if not truncated(sample) else None
        if vote:
            votes[vote[0]] += 1
            first_form.setdefault(*vote)
    if not votes:
        return None, 0.0
    key, count = votes.most_common(1)[0]
    return first_form[key], count / len(samples)


def band_of(pass_rate: float, settings: DifficultySettings) -> str:
    if pass_rate > settings.high:
        return "too_easy"
    if pass_rate < settings.low:
        return "too_hard"
    return "teachable"


class DifficultyStage:
    def __init__(self, lake: Lake, settings: DifficultySettings, run_id: str, cache_path: Path,
                 engine: Engine | None = None, reference_engine: Engine | None = None,
                 factory: EngineFactory | None = None):
        self.lake, self.settings, self.run_id = lake, settings, run_id
        self.base = LLMClient(settings.base, cache_path, run_id=run_id, stage="difficulty", engine=engine,
                              factory=factory)
        self.reference: LLMClient | None = None
        if settings.reference is not None:
            self.reference = LLMClient(settings.reference, cache_path, run_id=run_id, stage="difficulty",
                                       engine=reference_engine, factory=factory)
        self.judge: Judge | None = None
        if settings.judge is not None:
            self.judge = Judge(LLMClient(settings.judge, cache_path, run_id=run_id, stage="difficulty",
                                         factory=factory))
        self.clients = [c for c in (self.base, self.reference, self.judge and self.judge.client) if c is not None]
        self.report = DifficultyReport(run_id, settings.base.model, n=settings.n)
        self.pool = ThreadPoolExecutor(settings.verify_workers, thread_name_prefix="verify")

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for client in self.clients:
            client.close()

    def run(self) -> DifficultyReport:
        s = self.settings
        prompts = [PromptToScore(r["prompt_id"], r["problem"], r["answer"], r["domain"] or "math",
                                 spec_of(r["extra"]), r["seed_prompt_id"])
                   for r in store.select_prompts(self.lake, s.base.model, s.sources, s.limit,
                                                 rescore_incomplete=s.rescore_incomplete,
                                                 labellable=self._labellable())]
        for domain, count in store.count_unlabelled(self.lake, s.base.model, s.sources, self._labellable()).items():
            self.report.unlabelled += count
            self.report.domains[domain]["unlabelled"] += count
        self.report.considered = len(prompts) + self.report.unlabelled
        for start in range(0, len(prompts), s.chunk_prompts):
            self._score_chunk(prompts[start : start + s.chunk_prompts])
        for client in self.clients:
            client.flush(self.lake)
        self.report.llm = sum((c.stats for c in self.clients), Counter())
        self._fail_if_mostly_failed()
        return self.report

    def _labellable(self) -> tuple[bool, bool, bool]:
        s = self.settings
        return (self.reference is not None, self.judge is not None,
                self.judge is not None and s.rate and s.rating_bands)

    def _fail_if_mostly_failed(self) -> None:
        llm = self.report.llm
        failed = llm["samples_failed"]
        asked = failed + llm["samples_generated"] + llm["samples_cached"]
        if failed and failed > self.settings.max_failed_share * asked:
            errors = sum((c.errors for c in self.clients), Counter())
            why = errors.most_common(1)[0][0] if errors else "no response"
            raise UserError(f"difficulty: {failed} of {asked} samples failed ({why}); "
                            f"{self.report.pending} prompts left unbanded for the next run")

    def _labels(self, chunk: list[PromptToScore]) -> tuple[dict[str, Label], list[dict]]:
        labels = {p.prompt_id: Label(p.answer, "reference") for p in chunk if checkable(p.domain, p.answer, p.spec)
                  or (self.judge and p.answer and verifier_of(p.domain) == "judge")}
        need = [p for p in chunk if p.prompt_id not in labels and verifier_of(p.domain) != "judge"]
        if self.reference is None or not need:
            return labels, []
        rows: list[dict] = []
        requests = [build_request(self.settings, p.problem, PROXY_TEMPLATE) for p in need]
        model = self.reference.settings.model
        for prompt, samples in zip(need, self.reference.samples(requests, self.settings.k_reference)):
            if any(s is None for s in samples):
                continue  # a failed sample is no vote: the prompt waits for the next run
            answer, agreement = plurality(samples, prompt.domain)
            labels[prompt.prompt_id] = Label(answer, "proxy", agreement, model)
            rows += self._sample_rows(prompt, samples, [None] * len(samples), "proxy", model)
        return labels, rows

    def _score_chunk(self, chunk: list[PromptToScore]) -> None:
        labels, sample_rows = self._labels(chunk)
        ratings = self._ratings(chunk)
        summaries, to_score = [], []
        for prompt in chunk:
            label = labels.get(prompt.prompt_id)
            rating = ratings.get(prompt.prompt_id)
            if label is None and rating is not None and self.settings.rating_bands:
                summaries.append(self._rated(prompt, rating["rating"]))
            elif label is None:
                self._unlabelled_or_pending(prompt)
            elif label.source == "proxy" and (not label.answer or label.agreement < self.settings.proxy_min_agreement):
                summaries.append(self._ambiguous(prompt, label))
            else:
                to_score.append(prompt)
        requests = [build_request(self.settings, p.problem, SCORE_TEMPLATE) for p in to_score]
        for prompt, samples in zip(to_score, self.base.samples(requests, self.settings.n)):
            if any(s is None for s in samples):
                self.report.pending += 1  # no summary yet: a rerun completes it from the cache
                self.report.count(prompt.domain, "pending")
                continue
            label = labels[prompt.prompt_id]
            verdicts = self._verdicts(prompt, samples, label.answer)
            if verdicts is None:
                self.report.pending += 1  # the judge's requests failed: no verdict, ask again next run
                self.report.count(prompt.domain, "pending")
                continue
            rows = self._sample_rows(prompt, samples, verdicts, "score", self.settings.base.model)
            sample_rows += rows
            summaries.append(self._summary(prompt, label, rows))
            if prompt.prompt_id in ratings and summaries[-1]["pass_rate"] is not None:
                self.report.rating_pass[ratings[prompt.prompt_id]["rating"]].append(summaries[-1]["pass_rate"])
        store.write_chunk(self.lake, self.settings.base.model, sample_rows, summaries, list(ratings.values()))

    def _ratings(self, chunk: list[PromptToScore]) -> dict[str, dict]:
        if self.judge is None or not self.settings.rate:
            return {}
        rows = {}
        for prompt, rated in zip(chunk, self.judge.ratings([p.problem for p in chunk])):
            if rated is not None:
                rows[prompt.prompt_id] = {"prompt_id": prompt.prompt_id, "model": self.judge.model,
                                          "rating": rated[0], "rationale": rated[1], "run_id": self.run_id}
        self.report.ratings += len(rows)
        return rows

    def _rated(self, prompt: PromptToScore, rating: int) -> dict:
        s = self.settings
        band = "too_easy" if rating <= s.rating_easy else "too_hard" if rating >= s.rating_hard else "teachable"
        self.report.bands[band] += 1
        self.report.count(prompt.domain, band)
        return {"prompt_id": prompt.prompt_id, "model": s.base.model, "n": 0, "n_correct": 0, "n_incomplete": 0,
                "pass_rate": None,
                "label": None, "label_source": "rating", "proxy_answer": None, "proxy_agreement": None,
                "reference_model": self.judge.model if self.judge else None, "band": band,
                "domain": prompt.domain, "seed_prompt_id": prompt.seed, "run_id": self.run_id}

    def _unlabelled_or_pending(self, prompt: PromptToScore) -> None:
        if self.reference is not None and verifier_of(prompt.domain) != "judge":
            self.report.pending += 1  # the reference's samples failed
            self.report.count(prompt.domain, "pending")
        else:
            self.report.unlabelled += 1
            self.report.count(prompt.domain, "unlabelled")

    def _verdicts(self, prompt: PromptToScore, samples: list[Sample], label: str | None) -> list | None:
        """One verdict per sample (None: truncated), or None when a judge request failed."""
        if verifier_of(prompt.domain) == "judge":
            complete = [s for s in samples if not truncated(s)]
            judged = iter(self.judge.verdicts(prompt.problem, label, complete) if complete else [])
            verdicts = [None if truncated(s) else next(judged) for s in samples]
            return None if any(v is None for s, v in zip(samples, verdicts) if not truncated(s)) else verdicts

        def check(sample: Sample):
            if truncated(sample) or label is None and verifier_of(prompt.domain) != "code":
                return None
            return verify_prompt_response(prompt.domain, sample.text, label, prompt.spec,
                                          timeout_s=self.settings.code_timeout_s,
                                          memory_mb=self.settings.code_memory_mb)

        return list(self.pool.map(check, samples))

    def _sample_rows(self, prompt: PromptToScore, samples: list[Sample], verdicts: list,
                     purpose: str, model: str) -> list[dict]:
        rows = []
        for index, (sample, verdict) in enumerate(zip(samples, verdicts)):
            incomplete = truncated(sample)
            self.report.samples_incomplete += incomplete and purpose == "score"
            extracted = verdict.extracted if verdict else (None if incomplete else extract_final_answer(sample.text))
            if verifier_of(prompt.domain) == "code" and extracted:
                extracted = None  # the program is in `response`; no short answer to show
            rows.append({"prompt_id": prompt.prompt_id, "model": model, "purpose": purpose, "sample_index": index,
                         "response": sample.text, "extracted_answer": extracted,
                         "correct": verdict.correct if verdict else None,
                         "verify_reason": verdict.reason if verdict else None,
                         "status": "incomplete" if incomplete else "complete",
                         "tokens": sample.completion_tokens, "run_id": self.run_id})
        return rows

    def _summary(self, prompt: PromptToScore, label: Label, rows: list[dict]) -> dict:
        complete = [r for r in rows if r["status"] == "complete"]
        n_correct = sum(bool(r["correct"]) for r in complete)
        if len(complete) < self.settings.needed:
            band, pass_rate = "incomplete", None
        else:
            pass_rate = n_correct / len(complete)
            band = band_of(pass_rate, self.settings)
            self.report.scored += 1
            self.report.correct_histogram[n_correct] += 1
        self.report.bands[band] += 1
        self.report.count(prompt.domain, band)
        return {"prompt_id": prompt.prompt_id, "model": self.settings.base.model, "n": len(complete),
                "n_correct": n_correct, "n_incomplete": len(rows) - len(complete), "pass_rate": pass_rate,
                "label": label.answer,
                "label_source": "judge" if verifier_of(prompt.domain) == "judge" else label.source,
                "proxy_answer": label.answer if label.source == "proxy" else None,
                "proxy_agreement": label.agreement, "reference_model": label.model, "band": band,
                "domain": prompt.domain, "seed_prompt_id": prompt.seed, "run_id": self.run_id}

    def _ambiguous(self, prompt: PromptToScore, label: Label) -> dict:
        self.report.bands["ambiguous"] += 1
        self.report.count(prompt.domain, "ambiguous")
        return {"prompt_id": prompt.prompt_id, "model": self.settings.base.model, "n": 0, "n_correct": 0,
                "n_incomplete": 0, "pass_rate": None, "label": None, "label_source": "proxy", "proxy_answer": label.answer,
                "proxy_agreement": label.agreement, "reference_model": label.model, "band": "ambiguous",
                "domain": prompt.domain, "seed_prompt_id": prompt.seed, "run_id": self.run_id}


def run_difficulty(lake: Lake, settings: DifficultySettings, run_id: str, cache_path: Path,
                   engine: Engine | None = None, factory: EngineFactory | None = None,
                   reference_engine: Engine | None = None) -> DifficultyReport:
    stage = DifficultyStage(lake, settings, run_id, cache_path, engine=engine, factory=factory,
                            reference_engine=reference_engine)
    try:
        return stage.run()
    finally:
        stage.close()


def run(ctx: StageContext, settings: DifficultySettings) -> DifficultyReport:
    return run_difficulty(ctx.lake, settings, ctx.run_id, ctx.cache_path, factory=ctx.make_engine)


def histogram_rows(correct_histogram: dict, scored: int, n: int) -> list[dict]:
    total = max(scored, 1)
    return [{"correct": f"{k}/{n}", "prompts": correct_histogram.get(str(k), 0),
             "share": round(correct_histogram.get(str(k), 0) / total, 3)} for k in range(n + 1)]


def summarize(report: DifficultyReport) -> dict:
    result = report.as_dict()
    bands = [{"band": b, "prompts": c} for b, c in sorted(result["bands"].items())]
    return {**result, "histogram": histogram_rows(result["correct_histogram"], result["scored"], report.n),
            "bands_rows": bands}


def estimate(ctx: StageContext, settings: DifficultySettings) -> dict:
    """The dry run (tasks.llm.estimate): every selected prompt scored n times (an upper bound:
    ambiguous proxy labels skip scoring) plus the reference's samples where no answer is
    checkable; sends nothing, writes nothing."""
    from tasks.llm.estimate import estimate as estimate_llm

    prompts = [PromptToScore(r["prompt_id"], r["problem"], r["answer"], r["domain"] or "math", spec_of(r["extra"]))
               for r in store.select_prompts(ctx.lake, settings.base.model, settings.sources, settings.limit)]
    parts = [(settings.base, [build_request(settings, p.problem, SCORE_TEMPLATE) for p in prompts], settings.n)]
    if settings.reference is not None:
        need = [p for p in prompts if not checkable(p.domain, p.answer, p.spec)]
        parts.append((settings.reference, [build_request(settings, p.problem, PROXY_TEMPLATE) for p in need],
                      settings.k_reference))
    return {"prompts": len(prompts), **estimate_llm(ctx.cache_path, "difficulty", parts)}
