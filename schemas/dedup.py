"""Schemas layer: settings and stage-owned tables of the dedup stage."""

from __future__ import annotations

from schemas.config_base import Settings
from schemas.records import Record


class DedupSettings(Settings):
    """Settings of the dedup stage (exact + MinHash LSH + optional embeddings)."""


DEDUP_TABLES: tuple[type[Record], ...] = ()
