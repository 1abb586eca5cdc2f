"""Tasks layer (ingest): field mapping, answer extraction, text normalisation and ids.

Pure functions on one record at a time, written for the hot loop (no pydantic, no regex where
a string test will do). `normalize_text` is what hashing and dedup see; the original text is
what is stored and trained on.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

PROBLEM_FIELDS = ("problem", "question", "prompt", "input", "instruction")
ANSWER_FIELDS = ("answer", "final_answer", "solution")
ID_SEPARATOR = "\x1f"

_NUMBER_WITH_COMMAS = re.compile(r"-?\d{1,3}(,\d{3})+(\.\d+)?")


def normalize_text(text: str) -> str:
    """NFKC, then every whitespace run collapsed to one space, ends stripped."""
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def text_hash(normalized: str) -> str:
    return hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def prompt_id(source: str, source_file: str, source_id: str, hashed_text: str) -> str:
    """Stable across re-ingests: the same record of the same file always gets the same id."""
    key = ID_SEPARATOR.join((source, source_file, source_id, hashed_text))
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced; None if absent."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    open_brace = text.find("{", start)
    if open_brace < 0:
        rest = text[start + len("\\boxed") :].strip()  # "\boxed 5" form
        return rest.split()[0].rstrip("$.") if rest else None
    depth = 0
    for index in range(open_brace, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace + 1 : index].strip()
    return None


def _clean_number(text: str) -> str:
    text = text.strip().rstrip(".").strip()
    if _NUMBER_WITH_COMMAS.fullmatch(text):
        return text.replace(",", "")
    return text


def _scalar_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    raise TypeError(type(value).__name__)


def extract_answer(value: object) -> tuple[str | None, str | None]:
    """(extracted answer, raw answer text). Raises TypeError for a type no answer can have.

    GSM8K rationales keep what follows `####`; MATH solutions their last `\\boxed{}`; numbers
    become canonical strings (27.0 -> "27"); a list (OlympiadBench) is joined with ", ".
    """
    if isinstance(value, list):
        parts = [_scalar_text(v) for v in value]
        raw = ", ".join(p for p in parts if p is not None)
        return (raw or None), (raw or None)
    raw = _scalar_text(value)
    if raw is None:
        return None, None
    if "####" in raw:
        answer = _clean_number(raw.rsplit("####", 1)[1])
    elif "\\boxed" in raw or "\\fbox" in raw:
        answer = last_boxed(raw)
    else:
        answer = raw.strip()
    return (answer or None), raw
