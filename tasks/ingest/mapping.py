"""Tasks layer (ingest): one source record -> one prompt row, or a reason it cannot be one.

`RecordMapper.map` is the per-record hot path: field lookup, type checks, answer extraction,
normalised hash and stable id. It returns a tuple in `PROMPT_COLUMNS` order or a `Bad`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.ingest.fields import PROBLEM_FIELDS, prompt_id
from tasks.readers.files import Bad, clip, dumps
from tasks.text import normalize_text, text_hash
from tasks.verify.extract import ANSWER_FIELDS, extract_answer

DEFAULT_DOMAIN = "math"
# Order of the tuple `RecordMapper.map` returns (the per-row columns of `prompts`).
PROMPT_COLUMNS = (
    "prompt_id",
    "source_id",
    "problem",
    "answer",
    "answer_raw",
    "domain",
    "text_hash",
    "extra",
)


def _raw(record: dict) -> str | None:
    return clip(dumps(record))


@dataclass
class RecordMapper:
    source: str
    source_file: str
    problem_field: str | None = None
    answer_field: str | None = None
    id_field: str | None = None
    domain: str | None = None
    max_problem_chars: int = 20_000
    keep_extra: bool = True
    seen_ids: set[str] = field(default_factory=set)

    def _problem(self, record: dict) -> tuple[str | None, object]:
        if self.problem_field is not None:
            return (self.problem_field, record[self.problem_field]) if self.problem_field in record else (None, None)
        for name in PROBLEM_FIELDS:
            if name in record:
                return name, record[name]
        return None, None

    def _answer(self, record: dict) -> tuple[str | None, object]:
        if self.answer_field is not None:
            return self.answer_field, record.get(self.answer_field)
        for name in ANSWER_FIELDS:
            if name in record:
                return name, record[name]
        return None, None

    def _check_problem(self, name: str | None, problem: object) -> tuple[str, str] | None:
        if name is None:
            wanted = self.problem_field or " / ".join(PROBLEM_FIELDS)
            return "missing_problem", f"no problem field ({wanted})"
        if problem is None:
            return "empty_problem", f"field {name!r} is null"
        if not isinstance(problem, str):
            return "wrong_type", f"field {name!r} is {type(problem).__name__}, expected a string"
        if not problem.strip():
            return "empty_problem", f"field {name!r} is empty"
        if len(problem) > self.max_problem_chars:
            return "problem_too_long", f"{len(problem)} characters > limit {self.max_problem_chars}"
        return None

    def _source_id(self, record: dict, position: str) -> str | Bad:
        if self.id_field is None:
            return position
        value = record.get(self.id_field)
        if value is None or isinstance(value, (dict, list)) or value == "":
            return Bad("missing_id", f"id field {self.id_field!r} is missing or not a scalar", _raw(record))
        source_id = str(value)
        if source_id in self.seen_ids:
            return Bad("duplicate_id", f"id {source_id!r} appears more than once", _raw(record))
        self.seen_ids.add(source_id)
        return source_id

    def map(self, record: dict, position: str) -> tuple | Bad:
        problem_name, problem = self._problem(record)
        problem_error = self._check_problem(problem_name, problem)
        if problem_error:
            return Bad(*problem_error, _raw(record))
        answer_name, answer_value = self._answer(record)
        try:
            answer, answer_raw = extract_answer(answer_value)
        except TypeError as exc:
            return Bad("wrong_type", f"answer field {answer_name!r} is {exc}", _raw(record))
        source_id = self._source_id(record, position)
        if isinstance(source_id, Bad):
            return source_id
        domain = self.domain or record.get("domain")
        if not isinstance(domain, str) or not domain:
            domain = DEFAULT_DOMAIN
        extra = None
        if self.keep_extra:
            used = (problem_name, answer_name, self.id_field)
            rest = {k: v for k, v in record.items() if k not in used}
            if rest:
                extra = dumps(rest)
        hashed = text_hash(normalize_text(problem))  # type: ignore[arg-type]
        pid = prompt_id(self.source, self.source_file, source_id, hashed)
        return (pid, source_id, problem, answer, answer_raw, domain, hashed, extra)
