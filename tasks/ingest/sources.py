"""Tasks layer (ingest): from what the user typed to concrete source units.

Expands files, globs and directories, recognises `hf://` datasets and `procedural://`
generator specs, and infers each file's format from its extension. Every user mistake
(missing file, empty glob, unknown format) is a `UserError` with one clear line.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import UserError
from tasks.readers.files import FILE_READERS, FileReader, Item, sniff_json_kind
from tasks.readers.hf import HF_PREFIX

PROCEDURAL_PREFIX = "procedural://"
FORMATS = ("jsonl", "json", "csv", "parquet", "hf", "procedural")
_SUFFIX_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class SourceUnit:
    """One thing to read: a file, a Hugging Face dataset split, or a generator spec."""

    format: str
    location: str
    source_file: str

    @property
    def is_file(self) -> bool:
        return self.format not in ("hf", "procedural")


def _suffix_format(path: Path) -> str | None:
    suffixes = path.suffixes
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _SUFFIX_FORMATS.get(suffixes[-1].lower()) if suffixes else None


def _file_format(path: Path, given: str | None) -> str:
    inferred = _suffix_format(path)
    fmt = given or inferred
    if fmt is None:
        raise UserError(f"cannot infer the format of {path}: pass --format (one of {', '.join(FORMATS)})")
    if fmt == "json":
        return sniff_json_kind(path)
    if fmt == "csv" and inferred == "tsv":
        return "tsv"
    return fmt


def _expand_path(text: str) -> list[Path]:
    if any(ch in text for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not matches:
            raise UserError(f"no files match {text}")
        return matches
    path = Path(text).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _suffix_format(p))
        if not files:
            raise UserError(f"no readable data files in directory {path}")
        return files
    if not path.exists():
        raise UserError(f"no such file: {text}")
    return [path]


def _checked_spec(text: str) -> str:
    from tasks.ingest.procedural import ProceduralSpec

    try:
        ProceduralSpec.parse(text)
    except ValueError as exc:
        raise UserError(f"bad generator spec {text!r}: {exc}") from None
    return text


def resolve_units(paths: list[str], fmt: str | None, split: str = "train") -> list[SourceUnit]:
    if fmt is not None and fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not paths:
        raise UserError("give at least one path")
    units: list[SourceUnit] = []
    for text in paths:
        if text.startswith(PROCEDURAL_PREFIX) or fmt == "procedural":
            units.append(SourceUnit("procedural", _checked_spec(text), text))
        elif text.startswith(HF_PREFIX) or fmt == "hf":
            dataset = text.removeprefix(HF_PREFIX)
            units.append(SourceUnit("hf", dataset, f"{dataset}:{split}"))
        else:
            for path in _expand_path(text):
                units.append(SourceUnit(_file_format(path, fmt), str(path.resolve()), path.name))
    return units


def read_unit(unit: SourceUnit, split: str, hf_config: str | None) -> tuple[Iterator[Item], Callable[[], int]]:
    """(items, position) where position() is progress in the unit's own unit (bytes or rows)."""
    if unit.format == "procedural":
        from tasks.ingest.generated import read_procedural

        return read_procedural(unit.location)
    if unit.format == "hf":
        from tasks.ingest.generated import read_hf

        return read_hf(unit.location, split, hf_config)
    reader = FileReader(Path(unit.location))

    def items() -> Iterator[Item]:
        try:
            yield from FILE_READERS[unit.format](reader)
        finally:
            reader.close()

    return items(), reader.position


def unit_size(unit: SourceUnit) -> int | None:
    return Path(unit.location).stat().st_size if unit.is_file else None
