"""Tasks layer (ingest): from what the user typed to concrete source units.

Expands files, globs and directories, recognises `hf://` datasets, `procedural://` generator
specs and `-` (standard input, read through a spooled copy), and infers each file's format from
its extension. Boundaries: expansion never enters the active home or any other teachable home
(a folder holding a catalog), a file's name is its path relative to the root it was found
under (so equal names in different folders are different files), and FIFOs, devices and other
special files are refused: reading one could block forever. Every user mistake (missing file,
empty glob, unknown format, special file) is a `UserError` with one clear line.
"""

from __future__ import annotations

import glob
import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import UserError
from tasks.readers.files import FILE_READERS, FileReader, Item, sniff_json_kind
from tasks.readers.hf import HF_PREFIX
from warehouse.home import Home

log = logging.getLogger(__name__)
STDIN = "-"

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

    @property
    def is_stdin(self) -> bool:
        return self.location == STDIN


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


def is_home(folder: Path) -> bool:
    """A teachable home: its DuckLake catalog is there, or its catalog binding beside its data
    folder (a lone `catalog.json` is a common data file name, not a home)."""
    home = Home(folder)
    return home.catalog.exists() or (home.binding_file.exists() and home.data.is_dir())


class _Fence:
    """Where expansion may not go: the active home and every folder that is a teachable home."""

    def __init__(self, exclude: Iterable[Path]):
        self.roots = [Path(p).resolve() for p in exclude]
        self._homes: dict[Path, bool] = {}

    def _home(self, folder: Path) -> bool:
        if folder not in self._homes:
            self._homes[folder] = is_home(folder)
        return self._homes[folder]

    def blocks(self, path: Path, top: Path | None = None) -> Path | None:
        """The home that `path` lies in, looking at its folders up to `top` (None: up to /)."""
        resolved = path.resolve()
        for root in self.roots:
            if resolved == root or root in resolved.parents:
                return root
        folder = resolved if resolved.is_dir() else resolved.parent
        stop = top.resolve() if top is not None else None
        while True:
            if self._home(folder):
                return folder
            if folder == stop or folder.parent == folder:
                return None
            folder = folder.parent


def _skipped(home: Path, where: str) -> None:
    log.warning("not reading %s: it is a teachable home (found while expanding %s)", home, where)


def _walk(top: Path, fence: _Fence) -> list[Path]:
    """Data files below `top`, never descending into a home; special files are left out."""
    files = []
    for folder, dirs, names in os.walk(top):
        here = Path(folder)
        keep = []
        for name in sorted(dirs):
            home = fence.blocks(here / name, here / name)
            if home is None:
                keep.append(name)
            else:
                _skipped(home, str(top))
        dirs[:] = keep
        files += [here / n for n in names if _suffix_format(Path(n)) and (here / n).is_file()]
    return sorted(files)


def _glob_root(text: str) -> Path:
    """The folder a glob starts from: its longest prefix without wildcards."""
    parts = Path(text).expanduser().parts
    fixed: list[str] = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _regular(path: Path, text: str) -> None:
    """Refuse FIFOs, devices and sockets: opening one may block forever or never end."""
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        kind = "FIFO" if stat.S_ISFIFO(mode) else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"
        raise UserError(f"{text} is a {kind}, not a regular file: to read a stream on purpose pass '-' "
                        "and pipe it to standard input")


def _expand_path(text: str, fence: _Fence) -> list[tuple[Path, Path]]:
    """(file, root it was found under) pairs for one path, glob or directory."""
    if any(ch in text for ch in "*?["):
        root = _glob_root(text)
        matches = []
        for p in sorted(Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True)):
            if not p.is_file():
                continue
            home = fence.blocks(p, root)
            if home is None:
                matches.append((p, root))
            else:
                _skipped(home, text)
        if not matches:
            raise UserError(f"no files match {text}")
        return matches
    path = Path(text).expanduser()
    if not path.exists():
        raise UserError(f"no such file: {text}")
    home = fence.blocks(path)
    if home is not None:
        raise UserError(f"{text} is inside the teachable home {home}: its files are the warehouse, not a source")
    if path.is_dir():
        files = _walk(path, fence)
        if not files:
            raise UserError(f"no readable data files in directory {path}")
        return [(f, path) for f in files]
    _regular(path, text)
    return [(path, path.parent)]


def relative_name(path: Path, root: Path) -> str:
    """The file's name in ids and `ingest_files`: its path below the ingest root ('/'-separated);
    a single file's root is its folder, so its name is what it always was, the bare file name."""
    try:  # not resolved: a symlink inside the root is named where it lies, not where it points
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return path.name


def _checked_spec(text: str) -> str:
    from tasks.ingest.procedural import ProceduralSpec

    try:
        ProceduralSpec.parse(text)
    except ValueError as exc:
        raise UserError(f"bad generator spec {text!r}: {exc}") from None
    return text


def resolve_units(paths: list[str], fmt: str | None, split: str = "train",
                  exclude: Iterable[Path] = ()) -> list[SourceUnit]:
    """Concrete units for what the user typed; `exclude`: folders never read (the active home)."""
    if fmt is not None and fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not paths:
        raise UserError("give at least one path")
    units: list[SourceUnit] = []
    fence = _Fence(exclude)
    for text in paths:
        if text == STDIN:
            if fmt in ("hf", "procedural"):
                raise UserError(f"'-' reads standard input as a file: --format {fmt} cannot apply")
            units.append(SourceUnit(fmt or "jsonl", STDIN, "stdin"))
        elif text.startswith(PROCEDURAL_PREFIX) or fmt == "procedural":
            units.append(SourceUnit("procedural", _checked_spec(text), text))
        elif text.startswith(HF_PREFIX) or fmt == "hf":
            dataset = text.removeprefix(HF_PREFIX)
            units.append(SourceUnit("hf", dataset, f"{dataset}:{split}"))
        else:
            for path, root in _expand_path(text, fence):
                units.append(SourceUnit(_file_format(path, fmt), str(path.resolve()), relative_name(path, root)))
    units = list(dict.fromkeys(units))  # the same file named twice is read once
    names = [u.source_file for u in units]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise UserError(f"two inputs have the same name {twice[0]!r} in this source: ingest them as "
                        "one directory, or under different --source names")
    return units


@dataclass
class Opened:
    """A unit being read: its items, progress in its own unit (bytes or rows), and for a file
    the digest of what was read and whether the file changed meanwhile."""

    items: Iterator[Item]
    position: Callable[[], int]
    reader: FileReader | None = None

    def finish(self) -> str | None:
        """Close the file; the digest of what was read (of the whole file)."""
        if self.reader is None:
            return None
        self.reader.close()
        return self.reader.finish_hash()

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def changed(self) -> bool:
        return self.reader is not None and self.reader.changed()


def read_unit(unit: SourceUnit, split: str, hf_config: str | None) -> Opened:
    if unit.format == "procedural":
        from tasks.ingest.generated import read_procedural

        return Opened(*read_procedural(unit.location))
    if unit.format == "hf":
        from tasks.ingest.generated import read_hf

        return Opened(*read_hf(unit.location, split, hf_config))
    reader = FileReader(Path(unit.location))
    return Opened(FILE_READERS[unit.format](reader), reader.position, reader)


def unit_size(unit: SourceUnit) -> int | None:
    return Path(unit.location).stat().st_size if unit.is_file and not unit.is_stdin else None
