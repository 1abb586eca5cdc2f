"""Tasks layer (ingest): one source record -> one prompt row, or a reason it cannot be one.

`RecordMapper.fields` is the per-record hot path: field lookup, type checks, answer extraction,
the record's other fields as JSON. It returns a tuple in `FIELD_COLUMNS` order or a `Bad`; the
normalised text hash and the stable id are added to many rows at once (`tasks.ingest.rows`).
`RecordMapper.map` is the whole row of one record, hashes included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from tasks.ingest.fields import PROBLEM_FIELDS, prompt_id
from tasks.readers.files import Bad, TooDeep, clip, dumps, exact_dumps
from tasks.text import normalize_text, text_hash
from tasks.verify.codetests import parse_code_tests
from tasks.verify.domains import VERIFY_KEY, choice_answer, parse_choices, render_choices
from tasks.verify.extract import ANSWER_FIELDS, extract_answer

DEFAULT_DOMAIN = "math"
# Answer texts repeat across a pool (variants of one template share their rationale): extract once.
_extract_text = lru_cache(maxsize=1 << 15)(extract_answer)
CHOICES_FIELDS = ("choices", "options")
# Fields that make a record without a domain a code record (HumanEval, MBPP, APPS/TACO, CodeContests, LCB).
CODE_MARKERS = ("entry_point", "test_list", "input_output", "public_tests", "public_test_cases")
_KIND_MARKERS = frozenset(CODE_MARKERS + CHOICES_FIELDS)  # most records have none: one C call
# Order of the tuple `RecordMapper.fields` returns (the per-row columns of `prompts` but the hashes).
FIELD_COLUMNS = ("source_id", "problem", "answer", "answer_raw", "domain", "extra")
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
    tests_field: str | None = None
    entry_point_field: str | None = None
    choices_field: str | None = None
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
        if not problem or problem.isspace():  # i.e. nothing left once stripped, without the copy
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
        """The whole prompt row of one record (`PROMPT_COLUMNS`), or why there is none."""
        row = self.fields(record, position)
        if type(row) is not tuple:
            return row
        source_id, problem, answer, answer_raw, domain, extra = row
        hashed = text_hash(normalize_text(problem))
        pid = prompt_id(self.source, self.source_file, source_id, hashed)
        return (pid, source_id, problem, answer, answer_raw, domain, hashed, extra)

    def fields(self, record: dict, position: str) -> tuple | Bad:
        """The row of one record but its hashes (`FIELD_COLUMNS`), or why there is none."""
        problem_name, problem = self._problem(record)
        problem_error = self._check_problem(problem_name, problem)
        if problem_error:
            return Bad(*problem_error, _raw(record))
        answer_name, answer_value = self._answer(record)
        try:
            answer, answer_raw = (_extract_text if type(answer_value) is str else extract_answer)(answer_value)
        except TypeError as exc:
            return Bad("wrong_type", f"answer field {answer_name!r} is {exc}", _raw(record))
        source_id = position if self.id_field is None else self._source_id(record, position)
        if type(source_id) is Bad:
            return source_id
        domain = self._domain(record)
        verify: dict = {}
        if domain == "code":
            spec = parse_code_tests(record, self.tests_field, self.entry_point_field)
            if isinstance(spec, str):
                return Bad("bad_tests", spec, _raw(record))
            verify, answer = spec, None  # a code prompt's answer is its tests
        elif domain == "choice":
            checked = self._choices(record, answer_value)
            if isinstance(checked, Bad):
                return checked
            verify, answer = {"choices": checked[0]}, checked[1]
            problem = render_choices(problem, checked[0])  # type: ignore[arg-type]
        extra = None
        if self.keep_extra or verify:
            used = (problem_name, answer_name, self.id_field)
            rest = {k: v for k, v in record.items() if k not in used} if self.keep_extra else {}
            if verify:
                rest[VERIFY_KEY] = verify
            if rest:
                try:
                    extra = exact_dumps(rest)  # integers of any size kept as written
                except TooDeep as exc:
                    return Bad("too_deep", f"a field is {exc}", _raw(record))
        return (source_id, problem, answer, answer_raw, domain, extra)

    def _domain(self, record: dict) -> str:
        domain = self.domain or record.get("domain")
        if isinstance(domain, str) and domain:
            return domain
        markers = not record.keys().isdisjoint(_KIND_MARKERS)  # C-level: hot loop
        if self.tests_field or (markers and not record.keys().isdisjoint(CODE_MARKERS)):
            return "code"
        if self.choices_field or (markers and not record.keys().isdisjoint(CHOICES_FIELDS)):
            return "choice"
        return DEFAULT_DOMAIN

    def _choices(self, record: dict, answer_value: object) -> tuple[list[str], str | None] | Bad:
        names = (self.choices_field,) if self.choices_field else CHOICES_FIELDS
        raw = next((record[n] for n in names if n in record), None)
        choices = parse_choices(raw)
        if choices is None:
            return Bad("bad_choices", f"no list of 2-10 options in {' / '.join(names)}", _raw(record))
        if answer_value is None:
            return choices, None  # no reference: labelled later by a reference model, if any
        letter = choice_answer(answer_value, choices)
        if letter is None:
            return Bad("bad_answer", "the answer is not one of the options (letter, text or index)", _raw(record))
        return choices, letter
