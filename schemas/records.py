"""Schemas layer: one pydantic v2 model per warehouse table.

The models are the single source of truth for table names, columns and types: Arrow schemas
(`schemas.arrow`) and the warehouse DDL are derived from them. Adding a field here adds a
column on the next warehouse open (additive migration). No I/O, no Prefect.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    """Base of every table row; `__table__` names the table, `__key__` its identity columns."""

    model_config = ConfigDict(extra="forbid")
    __table__: ClassVar[str]
    __key__: ClassVar[tuple[str, ...]]


class Run(Record):
    __table__ = "runs"
    __key__ = ("run_id", "stage")
    run_id: str = Field(description="Run id shared by every row a run writes.")
    stage: str = Field(description="Stage or flow name: ingest, dedup, ..., curate.")
    flow_run_id: str | None = Field(None, description="Prefect flow-run id, when run as a flow.")
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(description="completed | failed")
    params: str = Field(description="JSON of the stage settings (no secrets).")
    stats: str = Field(description="JSON of the stage counters (read, kept, dropped by reason).")
    snapshot_id: int | None = Field(None, description="DuckLake snapshot the run's data produced.")


class IngestFile(Record):
    __table__ = "ingest_files"
    __key__ = ("run_id", "source", "source_file")
    run_id: str
    source: str
    source_file: str = Field(description="Path relative to the ingest root (or dataset id / generator spec) read.")
    path: str = Field(description="Location as given, resolved.")
    format: str
    content_sha256: str | None = Field(None, description="sha256 of the bytes read.")
    read: int = Field(description="Records read (a file-level failure counts as one).")
    ingested: int = Field(description="New prompt rows written.")
    unchanged: int = Field(description="Records already in the warehouse from an earlier run.")
    quarantined: int
    snapshot_id: int | None = None


class Prompt(Record):
    __table__ = "prompts"
    __key__ = ("prompt_id",)
    prompt_id: str = Field(description="Stable hash of source, source_file, source_id, text_hash.")
    source: str = Field(description="Source name given at ingest (--source).")
    source_file: str = Field(description="Path relative to the ingest root, dataset id or generator spec.")
    source_id: str = Field(description="Id in the source: --id-field, else 1-based line/row.")
    problem: str = Field(description="Problem text as ingested (original, not normalised).")
    answer: str | None = Field(None, description="Reference answer extracted (#### n, \\boxed{}).")
    answer_raw: str | None = Field(None, description="The answer field before extraction.")
    domain: str
    text_hash: str = Field(description="blake2b-128 of the NFKC + whitespace-normalised problem.")
    extra: str | None = Field(None, description="JSON of the record's other fields.")
    run_id: str
    ingested_at: datetime


class Quarantine(Record):
    __table__ = "quarantine"
    __key__ = ("quarantine_id",)
    quarantine_id: str = Field(description="Hash of source, source_file, location, reason, raw.")
    source: str
    source_file: str
    location: str = Field(description="Where in the source: 'line 12', 'row 7', 'file'.")
    reason: str = Field(description="Short code: malformed_json, invalid_utf8, empty_problem, ...")
    detail: str = Field(description="One human line about what was wrong.")
    raw: str | None = Field(None, description="The raw record (truncated to 10k characters).")
    run_id: str
    quarantined_at: datetime


class Duplicate(Record):
    __table__ = "duplicates"
    __key__ = ("prompt_id",)
    prompt_id: str
    duplicate_of: str = Field(description="The kept prompt of the cluster.")
    method: str = Field(description="exact | minhash | embedding")
    similarity: float | None = None
    run_id: str


class Contamination(Record):
    __table__ = "contamination"
    __key__ = ("prompt_id", "benchmark", "benchmark_item", "method", "target", "teacher", "sample_index")
    prompt_id: str
    benchmark: str
    benchmark_item: str
    method: str
    score: float | None = None
    evidence: str | None = None
    target: str = Field("problem", description="What matched: problem (the prompt) | rewrite (its accepted "
                        "rewrite) | answer (a kept trace's answer); null on rows older than this column = problem.")
    teacher: str = Field("", description="The trace's teacher when target is answer, else ''.")
    sample_index: int = Field(-1, description="The trace's sample_index when target is answer, else -1.")
    run_id: str


class BenchmarkItem(Record):
    __table__ = "benchmark_items"
    __key__ = ("benchmark", "benchmark_item")
    benchmark: str
    benchmark_item: str
    problem: str
    answer: str | None = None
    run_id: str


class DifficultySample(Record):
    __table__ = "difficulty_samples"
    __key__ = ("prompt_id", "model", "purpose", "sample_index")
    prompt_id: str
    model: str
    purpose: str = Field(description="score (base model) | proxy (reference model, for labels)")
    sample_index: int
    response: str | None = None
    extracted_answer: str | None = None
    correct: bool | None = None
    tokens: int | None = None
    run_id: str
    status: str | None = Field(None, description="complete | incomplete (truncated at max_tokens: not a vote)")
    verify_reason: str | None = Field(None, description="Why the verifier said no: mismatch, timeout, ...")


class Difficulty(Record):
    __table__ = "difficulty"
    __key__ = ("prompt_id", "model")
    prompt_id: str
    model: str
    n: int
    n_correct: int = 0
    pass_rate: float | None = None
    label: str | None = Field(None, description="The answer samples were checked against.")
    label_source: str = Field(
        "reference", description="reference | proxy (reference model's plurality) | judge (reference answer, "
        "graded by the LLM judge) | rating (banded by the judge's rating, no pass rate)")
    proxy_answer: str | None = None
    proxy_agreement: float | None = Field(None, description="Share of reference samples agreeing.")
    band: str = Field(description="too_easy | teachable | too_hard | ambiguous | incomplete")
    run_id: str
    n_incomplete: int | None = Field(None, description="Truncated samples, left out of n and the pass rate.")
    domain: str | None = Field(None, description="The prompt's domain: its verifier decided `correct`.")
    reference_model: str | None = Field(None, description="Model whose plurality gave a proxy label.")
    seed_prompt_id: str | None = Field(
        None, description="For an accepted rewrite (prompt_id '<seed>:rewrite'): the prompt it was rewritten from.")


class Rewrite(Record):
    __table__ = "rewrites"
    __key__ = ("prompt_id",)
    prompt_id: str
    rewritten_problem: str | None = None
    answer: str | None = None
    answer_type: str | None = None
    status: str = Field(description="accepted | rejected")
    reason: str | None = None
    run_id: str


class Trace(Record):
    __table__ = "traces"
    __key__ = ("prompt_id", "teacher", "sample_index")
    prompt_id: str
    teacher: str
    sample_index: int
    reasoning: str | None = None
    solution: str | None = None
    final_answer: str | None = None
    correct: bool | None = None
    tokens: int | None = None
    status: str = Field(description="kept | dropped")
    reason: str | None = None
    run_id: str
    reasoning_channel: str | None = Field(
        None, description="reasoning_content | reasoning | think_tags | template_think | none"
    )


class LLMCall(Record):
    __table__ = "llm_calls"
    __key__ = ("call_id",)
    call_id: str = Field(description="Unique id of this HTTP request / engine call.")
    call_key: str = Field(description="Cache key of the request (first sample's key).")
    attempt: int
    samples: int = Field(1, description="Samples (n) asked for in this call.")
    run_id: str
    stage: str
    engine: str
    model: str
    status: str = Field(
        description="ok | retry (failed, will retry) | error (gave up) | adapted (400 understood, resent)"
    )
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    error: str | None = None
    created_at: datetime


class DatasetVersion(Record):
    __table__ = "dataset_versions"
    __key__ = ("name", "version")
    name: str
    version: int
    snapshot_id: int | None = None
    created_at: datetime
    rows: int
    sha256: str = Field(description="Aggregate hash of the release files.")
    manifest: str = Field(description="The release manifest.json, as JSON text.")
