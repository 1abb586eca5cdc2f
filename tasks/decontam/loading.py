"""Tasks layer (decontam): from `--benchmarks` specs to benchmark items.

One reader for every benchmark: a spec is a DIR (every file the registry knows by name), a
NAME=PATH (any file; NAME picks the registry entry when known, else fields are guessed), or
`hf://ID` / `NAME=hf://ID` (a Hugging Face dataset id, or a local dataset folder, through
`tasks.readers.hf.load_hf_dataset`). Files are read with `tasks.readers.files`. A bad
name or path is a `UserError` with one line; records without a problem are counted, not
silently lost.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from schemas.errors import UserError
from tasks.decontam.registry import (
    ID_FIELDS,
    BenchmarkSpec,
    generic_spec,
    known_file_names,
    spec_for_file,
    spec_for_hf_id,
)
from tasks.decontam.wrappers import WRAPPERS, strip_wrappers
from tasks.readers.files import FILE_READERS, Bad, FileReader, sniff_json_kind
from tasks.readers.hf import HF_PREFIX
from tasks.text import normalize_text, text_hash
from tasks.verify.extract import ANSWER_FIELDS, extract_answer

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
            ".parquet": "parquet"}


@dataclass(frozen=True)
class BenchmarkSource:
    spec: BenchmarkSpec
    location: str  # a file path, or a dataset id / folder for kind "hf"
    kind: str  # "file" | "hf"


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item_id: str
    problem: str  # as stored in the benchmark
    answer: str | None
    text: str  # what the layers match: wrappers stripped
    domain: str = "math"

    @property
    def text_hash(self) -> str:
        return text_hash(normalize_text(self.text))


@dataclass
class LoadedBenchmarks:
    items: list[BenchmarkItem]
    sources: list[BenchmarkSource]
    skipped: Counter = field(default_factory=Counter)  # benchmark -> records without a problem

    def counts(self) -> dict[str, int]:
        return dict(Counter(item.benchmark for item in self.items))

    def files(self) -> list[dict]:
        """What was loaded, for a release to state: per benchmark its file (or dataset id), the
        sha256 of the file's bytes (None for a Hugging Face dataset) and its item count."""
        counts = self.counts()
        return [{"name": s.spec.name, "source": s.location, "items": counts.get(s.spec.name, 0),
                 "sha256": file_sha256(Path(s.location)) if s.kind == "file" else None} for s in self.sources]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise UserError(f"cannot read benchmark file {path}: use .jsonl, .json, .csv or .parquet (optionally .gz)")
    return sniff_json_kind(path) if fmt == "json" else fmt


def _directory_sources(folder: Path) -> list[BenchmarkSource]:
    sources = [BenchmarkSource(spec, str(path), "file") for path in sorted(folder.iterdir())
               if path.is_file() and (spec := spec_for_file(path.name))]
    if not sources:
        examples = ", ".join(known_file_names()[:6])
        raise UserError(f"no known benchmark files in {folder} (expected names such as {examples}); "
                        "add others as NAME=PATH")
    return sources


def _hf_source(name: str | None, dataset: str) -> BenchmarkSource:
    if not dataset:
        raise UserError("hf:// needs a dataset id or folder, e.g. hf://HuggingFaceH4/MATH-500")
    known = spec_for_hf_id(dataset)
    if name is None:
        spec = known or generic_spec(dataset.rstrip("/").rsplit("/", 1)[-1])
    else:
        from tasks.decontam.registry import REGISTRY

        spec = REGISTRY.get(name) or known or generic_spec(name)
        if spec.name != name:
            spec = BenchmarkSpec(**{**spec.__dict__, "name": name})
    return BenchmarkSource(spec, dataset, "hf")


def _named_source(name: str, location: str) -> BenchmarkSource:
    from tasks.decontam.registry import REGISTRY

    if not name.replace("_", "").replace("-", "").isalnum():
        raise UserError(f"bad benchmark name {name!r}: use letters, digits, - and _")
    if location.startswith(HF_PREFIX):
        return _hf_source(name, location.removeprefix(HF_PREFIX))
    path = Path(location).expanduser()
    if not path.is_file():
        raise UserError(f"benchmark file not found: {location}")
    spec = REGISTRY.get(name, generic_spec(name))
    return BenchmarkSource(spec, str(path.resolve()), "file")


def resolve_sources(specs: list[str]) -> list[BenchmarkSource]:
    """Every benchmark the specs name; the same benchmark named twice is an error."""
    if not specs:
        raise UserError("no benchmarks given: pass --benchmarks DIR (or NAME=PATH, hf://ID)")
    sources: list[BenchmarkSource] = []
    for text in specs:
        name, sep, location = text.partition("=")
        if sep and not name.startswith(HF_PREFIX):
            sources.append(_named_source(name.strip(), location.strip()))
        elif text.startswith(HF_PREFIX):
            sources.append(_hf_source(None, text.removeprefix(HF_PREFIX)))
        else:
            path = Path(text).expanduser()
            if path.is_dir():
                sources += _directory_sources(path)
            elif path.is_file():
                spec = spec_for_file(path.name)
                if spec is None:
                    raise UserError(f"unknown benchmark file {path.name}: name it, e.g. mybench={text}")
                sources.append(BenchmarkSource(spec, str(path.resolve()), "file"))
            else:
                raise UserError(f"no such benchmark file or directory: {text}")
    names = Counter(source.spec.name for source in sources)
    twice = sorted(name for name, n in names.items() if n > 1)
    if twice:
        raise UserError(f"benchmark {', '.join(twice)} given more than once")
    return sources


def _records(source: BenchmarkSource) -> Iterator[tuple[int, dict]]:
    if source.kind == "hf":
        from tasks.readers.hf import load_hf_dataset

        position = 0
        for config in source.spec.hf_configs:
            for row in load_hf_dataset(source.location, source.spec.hf_split, config):
                position += 1
                yield position, dict(row)
        return
    path = Path(source.location)
    reader = FileReader(path)
    try:
        for position, (location, record) in enumerate(FILE_READERS[_file_format(path)](reader), 1):
            if isinstance(record, Bad):
                raise UserError(f"cannot read benchmark {source.spec.name} ({path.name}): {record.detail}")
            # The reader's line/item number, as ingest uses for source_id.
            yield (int(location) if location.isdigit() else position), record
    finally:
        reader.close()


def _first(record: dict, fields: tuple[str, ...]) -> object:
    for name in fields:
        value = record.get(name)
        if value is not None and value != "":
            return value
    return None


def _answer(record: dict, spec: BenchmarkSpec) -> str | None:
    if spec.answer_field is None:
        return None
    value = _first(record, (spec.answer_field, *ANSWER_FIELDS))
    try:
        return extract_answer(value)[0]
    except TypeError:
        return None


def _item_id(record: dict, spec: BenchmarkSpec, position: int) -> str:
    fields = (spec.id_field,) if spec.id_field else ID_FIELDS if spec.name == spec.title else ()
    value = _first(record, fields) if fields else None
    return str(position) if value is None else str(value)


def read_items(source: BenchmarkSource) -> tuple[list[BenchmarkItem], int]:
    """(items, records skipped for lack of a problem text)."""
    spec = source.spec
    strip = WRAPPERS.get(spec.wrapper) if spec.wrapper else None
    items: list[BenchmarkItem] = []
    seen: set[str] = set()
    skipped = 0
    for position, record in _records(source):
        problem = _first(record, spec.problem_fields)
        if not isinstance(problem, str) or not problem.strip():
            skipped += 1
            continue
        item_id = _item_id(record, spec, position)
        if item_id in seen:  # ids must identify items: fall back to the position
            item_id = f"{item_id}#{position}"
        seen.add(item_id)
        text = strip_wrappers(strip(problem) if strip else problem)
        items.append(BenchmarkItem(spec.name, item_id, problem, _answer(record, spec), text, spec.domain))
    return items, skipped


def load_benchmarks(specs: list[str]) -> LoadedBenchmarks:
    sources = resolve_sources(specs)
    loaded = LoadedBenchmarks([], sources)
    for source in sources:
        items, skipped = read_items(source)
        if not items:
            raise UserError(f"benchmark {source.spec.name} ({source.location}) holds no problems")
        loaded.items += items
        if skipped:
            loaded.skipped[source.spec.name] = skipped
    return loaded
