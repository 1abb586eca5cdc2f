"""Tasks layer (ingest): which fields of a source record hold the problem, and the stable prompt id.

Pure functions on one record at a time, written for the hot loop. Answer extraction is
`tasks.verify.extract` (shared with decontamination and verification); text normalisation and
hashing are `tasks.text`.
"""

from __future__ import annotations

from tasks.text import text_hash

PROBLEM_FIELDS = ("problem", "question", "prompt", "input", "instruction")
ID_SEPARATOR = "\x1f"


def prompt_id(source: str, source_file: str, source_id: str, hashed_text: str) -> str:
    """Stable across re-ingests: the same record of the same file always gets the same id."""
    return text_hash(ID_SEPARATOR.join((source, source_file, source_id, hashed_text)))
