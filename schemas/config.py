"""Schemas layer: the pipeline config (YAML -> validated pydantic object).

One small settings model per stage, composed into `PipelineConfig`; every model forbids
unknown keys. `load_config` reports the first problems as `file:line: key.path: message`.
No I/O beyond reading the config file, no Prefect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from schemas import yaml_safe
from schemas.config_base import Settings
from schemas.decontam import DecontamSettings
from schemas.dedup import DedupSettings
from schemas.difficulty import DifficultySettings
from schemas.errors import ConfigError
from schemas.publish import PublishSettings
from schemas.traces import RewriteSettings, TracesSettings
from schemas.warehouse import WarehouseSettings

SourceFormat = Literal["jsonl", "json", "csv", "parquet", "hf", "procedural"]


class SourceSettings(Settings):
    """One seed source: files, globs, a Hugging Face dataset or the procedural generator."""

    name: str = Field(min_length=1, description="Source name stored on every prompt.")
    paths: list[str] = Field(
        min_length=1,
        description="Files, globs, directories, `hf://dataset-id` or `procedural://?n=...`.",
    )
    format: SourceFormat | None = Field(None, description="Inferred from the extension if unset.")
    id_field: str | None = Field(None, description="Record id field; default: line/row number.")
    problem_field: str | None = Field(
        None, description="Problem field; default: first of problem, question, prompt, input."
    )
    answer_field: str | None = Field(
        None, description="Answer field; default: first of answer, final_answer, solution."
    )
    domain: str | None = Field(
        None, description="math | code | choice | open (or another name, checked like math); default: the "
        "record's `domain`, else code when it has tests, choice when it has options, else math.")
    tests_field: str | None = Field(
        None, description="Code tests field; default: first of test, test_list, input_output, public_tests, "
        "public_test_cases, tests. Code records whose tests cannot be parsed are quarantined.")
    entry_point_field: str | None = Field(
        None, description="Function name field of call-style tests; default: entry_point, fn_name, func_name.")
    choices_field: str | None = Field(None, description="Options of a multiple-choice record; default: choices, options.")
    split: str = Field("train", description="Hugging Face split (format hf).")
    hf_config: str | None = Field(None, description="Hugging Face dataset config name.")


class IngestSettings(Settings):
    max_problem_chars: int = Field(
        20_000, gt=0, description="Longer problems are quarantined (problem_too_long)."
    )
    batch_size: int = Field(50_000, gt=0, description="Records per write batch (memory bound).")
    keep_extra: bool = Field(True, description="Store a record's other fields as JSON in `extra`.")


class IngestJob(Settings):
    """What one ingest run reads (the sources) and how (the limits): the ingest stage's settings."""

    sources: list[SourceSettings] = Field(min_length=1, description="Seed sources to read.")
    settings: IngestSettings = Field(default_factory=IngestSettings, description="Ingest limits and batch size.")


class PipelineConfig(Settings):
    # A refused `warehouse.catalog` may hold a password: no error message may echo the input.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field("teachable", description="Pipeline name; also the default release name.")
    sources: list[SourceSettings] = Field(min_length=1, description="Seed sources to ingest.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    decontaminate: DecontamSettings = Field(default_factory=DecontamSettings)
    difficulty: DifficultySettings = Field(default_factory=DifficultySettings)
    rewrite: RewriteSettings = Field(default_factory=RewriteSettings)
    traces: TracesSettings = Field(default_factory=TracesSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    budget_usd: float | None = Field(
        None, gt=0, description="Most the whole run may spend on LLM calls (each engine's own budget_usd also holds)."
    )
    warehouse: WarehouseSettings | None = Field(
        None, description="Catalog binding for the home (stored there on first use); unset: keep the home's."
    )


def parse_yaml(text: str, origin: str) -> tuple[Any, dict[tuple, int]]:
    """(the config's mapping, {key path: line}); hostile YAML is refused by `schemas.yaml_safe`."""
    return yaml_safe.load(text, origin)


def _line_of(loc: tuple, lines: dict[tuple, int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def validate_config(data: Any, lines: dict[tuple, int], origin: str) -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc) or "(top level)"
            problems.append(f"{origin}:{_line_of(loc, lines)}: {key}: {err['msg']}")
        more = len(exc.errors()) - len(problems)
        suffix = f" (and {more} more)" if more > 0 else ""
        raise ConfigError("; ".join(problems) + suffix) from None


def load_config(path: str | Path) -> PipelineConfig:
    path = Path(path)
    text = yaml_safe.read_text(path)
    data, lines = parse_yaml(text, str(path))
    try:
        return validate_config(data, lines, str(path))
    except ConfigError as exc:  # one line whatever a validator's message holds
        message = str(exc)
        if "\n" in message or "\r" in message:
            raise ConfigError(" ".join(message.split())) from None
        raise
