"""Schemas layer: the pipeline config (YAML -> validated pydantic object).

One small settings model per stage, composed into `PipelineConfig`; every model forbids
unknown keys. `load_config` reports the first problems as `file:line: key.path: message`.
No I/O beyond reading the config file, no Prefect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError

from schemas.config_base import Settings
from schemas.decontam import DecontamSettings
from schemas.dedup import DedupSettings
from schemas.difficulty import DifficultySettings
from schemas.errors import ConfigError
from schemas.publish import PublishSettings
from schemas.traces import RewriteSettings, TracesSettings
from schemas.warehouse import WarehouseSettings

SourceFormat = Literal["jsonl", "json", "csv", "parquet", "hf", "procedural"]


class SourceConfig(Settings):
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
    domain: str | None = Field(None, description="Domain; default: the record's, else 'math'.")
    split: str = Field("train", description="Hugging Face split (format hf).")
    hf_config: str | None = Field(None, description="Hugging Face dataset config name.")


class IngestSettings(Settings):
    max_problem_chars: int = Field(
        20_000, gt=0, description="Longer problems are quarantined (problem_too_long)."
    )
    batch_size: int = Field(50_000, gt=0, description="Records per write batch (memory bound).")
    keep_extra: bool = Field(True, description="Store a record's other fields as JSON in `extra`.")


class PipelineConfig(Settings):
    # A refused `warehouse.catalog` may hold a password: no error message may echo the input.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field("teachable", description="Pipeline name; also the default release name.")
    sources: list[SourceConfig] = Field(min_length=1, description="Seed sources to ingest.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    decontaminate: DecontamSettings = Field(default_factory=DecontamSettings)
    difficulty: DifficultySettings = Field(default_factory=DifficultySettings)
    rewrite: RewriteSettings = Field(default_factory=RewriteSettings)
    traces: TracesSettings = Field(default_factory=TracesSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    warehouse: WarehouseSettings | None = Field(
        None, description="Catalog binding for the home (stored there on first use); unset: keep the home's."
    )


def _key_lines(loader: yaml.SafeLoader, node: yaml.Node, path: tuple, lines: dict) -> None:
    """Record the line of every key path (1-based) so errors can point into the file."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _key_lines(loader, value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _key_lines(loader, item, path + (index,), lines)


def parse_yaml(text: str, origin: str) -> tuple[Any, dict[tuple, int]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(f"{origin}: the config is empty")
        lines: dict[tuple, int] = {(): node.start_mark.line + 1}
        _key_lines(loader, node, (), lines)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else "?"
        raise ConfigError(f"{origin}:{line}: invalid YAML: {exc.problem or exc}") from None
    finally:
        loader.dispose()


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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    data, lines = parse_yaml(text, str(path))
    return validate_config(data, lines, str(path))
