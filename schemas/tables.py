"""Schemas layer: the registry of every warehouse table.

Core tables live in `schemas.records`; a stage that needs tables of its own (signatures,
caches) defines them in its `schemas/<stage>.py` and is listed here, so the warehouse creates
and migrates them with the rest. Order is creation order.
"""

from __future__ import annotations

from schemas.decontam import DECONTAM_TABLES
from schemas.dedup import DEDUP_TABLES
from schemas.difficulty import DIFFICULTY_TABLES
from schemas.llm import LLM_TABLES
from schemas.records import (
    BenchmarkItem,
    Contamination,
    DatasetVersion,
    Difficulty,
    DifficultySample,
    Duplicate,
    IngestFile,
    LLMCall,
    Prompt,
    Quarantine,
    Record,
    Rewrite,
    Run,
    Trace,
)

CORE_TABLES: tuple[type[Record], ...] = (
    Run,
    IngestFile,
    Prompt,
    Quarantine,
    Duplicate,
    Contamination,
    BenchmarkItem,
    DifficultySample,
    Difficulty,
    Rewrite,
    Trace,
    LLMCall,
    DatasetVersion,
)

STAGE_TABLES: tuple[type[Record], ...] = DEDUP_TABLES + DECONTAM_TABLES + DIFFICULTY_TABLES + LLM_TABLES

TABLES: tuple[type[Record], ...] = CORE_TABLES + STAGE_TABLES
TABLE_BY_NAME: dict[str, type[Record]] = {model.__table__: model for model in TABLES}
