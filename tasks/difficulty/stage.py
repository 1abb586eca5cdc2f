"""Tasks layer (difficulty): sample the base model N times per prompt and band its pass rate.

Reads kept, uncontaminated prompts without a `difficulty` row for the base model; writes every
sample to `difficulty_samples` and one summary row to `difficulty`, a chunk of prompts per
transaction. Prompts without a reference answer get a proxy label: the plurality answer of K
reference-model samples (Phi-4's method), or `ambiguous` when the reference disagrees with
itself. Samples come through `LLMClient`, so reruns and crash-resumes send nothing twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from schemas.difficulty import DifficultySettings
from schemas.llm import LLMRequest, Message
from schemas.records import Difficulty, DifficultySample
from tasks.llm.base import Engine
from tasks.llm.cache import Sample
from tasks.llm.client import LLMClient
from tasks.runs import Funnel
from tasks.verify import canonical_answer, extract_final_answer, verify_answer
from warehouse.lake import Lake

PROXY_TEMPLATE = "proxy-1"
SCORE_TEMPLATE = "score-1"


@dataclass
class PromptToScore:
    prompt_id: str
    problem: str
    answer: str | None


@dataclass
class Label:
    answer: str | None
    source: str  # reference | proxy
    agreement: float | None = None


@dataclass
class DifficultyReport:
    run_id: str
    model: str
    considered: int = 0
    scored: int = 0
    incomplete: int = 0
    bands: Counter = field(default_factory=Counter)
    correct_histogram: Counter = field(default_factory=Counter)
    llm: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "considered": self.considered, "scored": self.scored, "incomplete": self.incomplete,
            "bands": dict(self.bands), "correct_histogram": {str(k): v for k, v in sorted(self.correct_histogram.items())},
            "llm": dict(self.llm),
        }

    def funnel(self) -> Funnel:
        """Teachable prompts go on; the other bands and unfinished prompts stop here."""
        dropped = {band: n for band, n in self.bands.items() if band != "teachable"}
        return Funnel(self.considered, self.bands.get("teachable", 0), {**dropped, "incomplete": self.incomplete})


def select_prompts(lake: Lake, settings: DifficultySettings) -> list[PromptToScore]:
    where = [
        "NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.prompt_id = p.prompt_id)",
        "NOT EXISTS (SELECT 1 FROM contamination c WHERE c.prompt_id = p.prompt_id)",
        "NOT EXISTS (SELECT 1 FROM difficulty f WHERE f.prompt_id = p.prompt_id AND f.model = ?)",
    ]
    params: list = [settings.base.model]
    if settings.sources:
        where.append(f"p.source IN ({', '.join('?' * len(settings.sources))})")
        params += settings.sources
    limit = f"LIMIT {int(settings.limit)}" if settings.limit else ""
    rows = lake.query(
        f"SELECT prompt_id, problem, answer FROM prompts p WHERE {' AND '.join(where)} "
        f"ORDER BY ingested_at, prompt_id {limit}", params,
    ).to_pylist()
    return [PromptToScore(**r) for r in rows]


def build_request(settings: DifficultySettings, problem: str, template: str) -> LLMRequest:
    return LLMRequest(
        messages=(Message(role="system", content=settings.system_prompt), Message(role="user", content=problem)),
        temperature=settings.temperature, top_p=settings.top_p, max_tokens=settings.max_tokens,
        seed=settings.seed, template_version=template,
    )


def plurality(samples: list[Sample | None]) -> tuple[str | None, float]:
    """Most common canonical answer among the samples and its share of all samples."""
    votes: Counter = Counter()
    first_form: dict[str, str] = {}
    for sample in samples:
        extracted = extract_final_answer(sample.text) if sample else None
        if extracted:
            key = canonical_answer(extracted)
            votes[key] += 1
            first_form.setdefault(key, extracted)
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
                 engine: Engine | None = None, reference_engine: Engine | None = None):
        self.lake, self.settings, self.run_id = lake, settings, run_id
        self.base = LLMClient(settings.base, cache_path, run_id=run_id, stage="difficulty", engine=engine)
        if settings.reference is None:
            self.reference = self.base  # same model; the proxy template keeps its cache keys apart
        else:
            self.reference = LLMClient(settings.reference, cache_path, run_id=run_id, stage="difficulty",
                                       engine=reference_engine)
        self.report = DifficultyReport(run_id, settings.base.model)

    def close(self) -> None:
        self.base.close()
        if self.reference is not self.base:
            self.reference.close()

    def run(self) -> DifficultyReport:
        prompts = select_prompts(self.lake, self.settings)
        self.report.considered = len(prompts)
        size = self.settings.chunk_prompts
        for start in range(0, len(prompts), size):
            self._score_chunk(prompts[start : start + size])
        self.base.flush(self.lake)
        if self.reference is not self.base:
            self.reference.flush(self.lake)
        self.report.llm = self.base.stats + (self.reference.stats if self.reference is not self.base else Counter())
        return self.report

    def _labels(self, chunk: list[PromptToScore]) -> tuple[dict[str, Label], list[dict]]:
        labels = {p.prompt_id: Label(p.answer, "reference") for p in chunk if p.answer}
        unlabelled = [p for p in chunk if not p.answer]
        rows: list[dict] = []
        if unlabelled:
            requests = [build_request(self.settings, p.problem, PROXY_TEMPLATE) for p in unlabelled]
            for prompt, samples in zip(unlabelled, self.reference.samples(requests, self.settings.k_reference)):
                answer, agreement = plurality(samples)
                labels[prompt.prompt_id] = Label(answer, "proxy", agreement)
                rows += self._sample_rows(prompt, samples, None, "proxy", self.reference.settings.model)
        return labels, rows

    def _score_chunk(self, chunk: list[PromptToScore]) -> None:
        labels, sample_rows = self._labels(chunk)
        min_agreement = self.settings.proxy_min_agreement
        to_score = [p for p in chunk if labels[p.prompt_id].source == "reference"
                    or (labels[p.prompt_id].answer and labels[p.prompt_id].agreement >= min_agreement)]
        requests = [build_request(self.settings, p.problem, SCORE_TEMPLATE) for p in to_score]
        scored_ids = {p.prompt_id for p in to_score}
        summaries = [self._ambiguous(p, labels[p.prompt_id]) for p in chunk if p.prompt_id not in scored_ids]
        for prompt, samples in zip(to_score, self.base.samples(requests, self.settings.n)):
            label = labels[prompt.prompt_id]
            rows = self._sample_rows(prompt, samples, label.answer, "score", self.settings.base.model)
            sample_rows += rows
            if any(s is None for s in samples):
                self.report.incomplete += 1  # no summary yet: a rerun completes it from the cache
                continue
            summaries.append(self._summary(prompt, label, rows))
        with self.lake.transaction():
            if sample_rows:
                self.lake.insert_new(DifficultySample, pa.Table.from_pylist(sample_rows))
            if summaries:
                self.lake.insert_new(Difficulty, pa.Table.from_pylist(summaries))

    def _sample_rows(self, prompt: PromptToScore, samples: list[Sample | None], label: str | None,
                     purpose: str, model: str) -> list[dict]:
        rows = []
        for index, sample in enumerate(samples):
            if sample is None:
                continue
            if label is not None:
                verdict = verify_answer(sample.text, label)
                extracted, correct = verdict.extracted, verdict.correct
            else:
                extracted, correct = extract_final_answer(sample.text), None
            rows.append({"prompt_id": prompt.prompt_id, "model": model, "purpose": purpose, "sample_index": index,
                         "response": sample.text, "extracted_answer": extracted, "correct": correct,
                         "tokens": sample.completion_tokens, "run_id": self.run_id})
        return rows

    def _summary(self, prompt: PromptToScore, label: Label, rows: list[dict]) -> dict:
        n_correct = sum(bool(r["correct"]) for r in rows)
        pass_rate = n_correct / len(rows)
        band = band_of(pass_rate, self.settings)
        self.report.scored += 1
        self.report.bands[band] += 1
        self.report.correct_histogram[n_correct] += 1
        return {"prompt_id": prompt.prompt_id, "model": self.settings.base.model, "n": len(rows),
                "n_correct": n_correct, "pass_rate": pass_rate, "label": label.answer, "label_source": label.source,
                "proxy_answer": label.answer if label.source == "proxy" else None,
                "proxy_agreement": label.agreement, "band": band, "run_id": self.run_id}

    def _ambiguous(self, prompt: PromptToScore, label: Label) -> dict:
        self.report.bands["ambiguous"] += 1
        return {"prompt_id": prompt.prompt_id, "model": self.settings.base.model, "n": 0, "n_correct": 0,
                "pass_rate": None, "label": None, "label_source": "proxy", "proxy_answer": label.answer,
                "proxy_agreement": label.agreement, "band": "ambiguous", "run_id": self.run_id}


def run_difficulty(lake: Lake, settings: DifficultySettings, run_id: str, cache_path: Path,
                   engine: Engine | None = None) -> DifficultyReport:
    stage = DifficultyStage(lake, settings, run_id, cache_path, engine=engine)
    try:
        return stage.run()
    finally:
        stage.close()

