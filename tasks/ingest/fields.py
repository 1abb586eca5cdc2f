"""Tasks layer (ingest): which fields of a source record hold the problem, and the stable prompt id.

Pure functions written for the hot loop. Answer extraction is `tasks.verify.extract` (shared with
decontamination and verification); text normalisation and hashing are `tasks.text`, which
`text_hashes` and `prompt_ids` apply to many rows at once with the very same results.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tasks.text import normalize_text, text_hash

PROBLEM_FIELDS = ("problem", "question", "prompt", "input", "instruction")
ID_SEPARATOR = "\x1f"


def prompt_id(source: str, source_file: str, source_id: str, hashed_text: str) -> str:
    """Stable across re-ingests: the same record of the same file always gets the same id."""
    return text_hash(ID_SEPARATOR.join((source, source_file, source_id, hashed_text)))


def text_hashes(texts: Sequence[str]) -> list[str]:
    """`text_hash(normalize_text(t))` of each text (NFKC leaves ASCII text as it is)."""
    blake2b = hashlib.blake2b
    return [
        blake2b((" ".join(t.split()) if t.isascii() else normalize_text(t)).encode("utf-8", "surrogatepass"),
                digest_size=16).hexdigest()
        for t in texts
    ]


def prompt_ids(source: str, source_file: str, source_ids: Sequence[str], hashes: Sequence[str]) -> list[str]:
    """`prompt_id(source, source_file, i, h)` of each (i, h)."""
    blake2b, prefix, sep = hashlib.blake2b, ID_SEPARATOR.join((source, source_file, "")), ID_SEPARATOR
    return [
        blake2b((prefix + i + sep + h).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        for i, h in zip(source_ids, hashes)
    ]
