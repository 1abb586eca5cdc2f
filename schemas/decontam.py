"""Schemas layer: settings and stage-owned tables of the decontaminate stage."""

from __future__ import annotations

from schemas.config_base import Settings
from schemas.records import Record


class DecontamSettings(Settings):
    """Settings of the decontaminate stage (n-gram, MinHash, embedding, LLM-judge layers)."""


DECONTAM_TABLES: tuple[type[Record], ...] = ()
