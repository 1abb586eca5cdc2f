"""Tasks layer (ingest): the ingest stage, source units in, `prompts` + `quarantine` out.

Each unit (file, dataset split, generator spec) is written in one transaction, i.e. one
DuckLake snapshot, together with its `ingest_files` row: a crash mid-file leaves nothing, a
rerun redoes it. Rows are keyed by stable ids, so re-ingesting adds 0 rows. Every record is
counted once: read = ingested + unchanged + quarantined.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa

from schemas.config import IngestSettings, SourceConfig
from schemas.records import IngestFile, Prompt, Quarantine
from tasks.ingest.fields import ID_SEPARATOR
from tasks.ingest.mapping import PROMPT_COLUMNS, RecordMapper
from tasks.ingest.sources import SourceUnit, read_unit, resolve_units, unit_size
from tasks.progress import progress
from tasks.readers.files import Bad
from tasks.runs import Funnel, now
from tasks.failpoints import failpoint
from warehouse.lake import Lake

_POSITION_WORD = {"jsonl": "line", "json": "item"}
PROGRESS_EVERY = 5_000


@dataclass
class UnitStats:
    source_file: str
    format: str
    read: int = 0
    ingested: int = 0
    unchanged: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    snapshot_id: int | None = None

    def as_dict(self) -> dict:
        return {**asdict(self), "reasons": dict(self.reasons)}


@dataclass
class IngestReport:
    run_id: str
    source: str
    units: list[UnitStats]

    def totals(self) -> dict:
        reasons: Counter = Counter()
        for unit in self.units:
            reasons.update(unit.reasons)
        keys = ("read", "ingested", "unchanged", "quarantined")
        totals = {k: sum(getattr(u, k) for u in self.units) for k in keys}
        return {**totals, "files": len(self.units), "quarantine_reasons": dict(reasons)}

    def funnel(self) -> Funnel:
        t = self.totals()
        return Funnel(t["read"], t["ingested"] + t["unchanged"], t["quarantine_reasons"])


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class _Batch:
    """Rows of one write, kept as tuples and turned into Arrow at flush time."""

    def __init__(self, source: str, source_file: str, run_id: str):
        self.source, self.source_file, self.run_id = source, source_file, run_id
        self.prompts: list[tuple] = []
        self.quarantine: list[tuple] = []

    def __len__(self) -> int:
        return len(self.prompts) + len(self.quarantine)

    def add_bad(self, location: str, bad: Bad) -> None:
        key = ID_SEPARATOR.join((self.source, self.source_file, location, bad.reason, bad.raw or ""))
        qid = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        self.quarantine.append((qid, location, bad.reason, bad.detail, bad.raw))

    def _constant(self, n: int) -> dict:
        return {"source": [self.source] * n, "source_file": [self.source_file] * n, "run_id": [self.run_id] * n}

    def flush(self, lake: Lake) -> int:
        """Write and clear; returns how many prompt rows were new."""
        at = now()
        new = 0
        if self.prompts:
            columns = dict(zip(PROMPT_COLUMNS, map(list, zip(*self.prompts))))
            n = len(self.prompts)
            table = pa.table({**columns, **self._constant(n), "ingested_at": [at] * n})
            new = lake.insert_new(Prompt, table)
        if self.quarantine:
            names = ("quarantine_id", "location", "reason", "detail", "raw")
            columns = dict(zip(names, map(list, zip(*self.quarantine))))
            n = len(self.quarantine)
            table = pa.table({**columns, **self._constant(n), "quarantined_at": [at] * n})
            lake.insert_new(Quarantine, table)
        self.prompts, self.quarantine = [], []
        return new


def _mapper(unit: SourceUnit, source: SourceConfig, settings: IngestSettings) -> RecordMapper:
    id_field = source.id_field or ("id" if unit.format == "procedural" else None)
    return RecordMapper(
        source=source.name,
        source_file=unit.source_file,
        problem_field=source.problem_field,
        answer_field=source.answer_field,
        id_field=id_field,
        domain=source.domain,
        tests_field=source.tests_field,
        entry_point_field=source.entry_point_field,
        choices_field=source.choices_field,
        max_problem_chars=settings.max_problem_chars,
        keep_extra=settings.keep_extra,
    )


def ingest_unit(lake: Lake, unit: SourceUnit, source: SourceConfig, settings: IngestSettings, run_id: str) -> UnitStats:
    stats = UnitStats(unit.source_file, unit.format)
    mapper = _mapper(unit, source, settings)
    word = _POSITION_WORD.get(unit.format, "row")
    sha = file_sha256(Path(unit.location)) if unit.is_file else None
    items, position = read_unit(unit, source.split, source.hf_config)
    sink = progress()
    sink.start(f"{source.name}: {unit.source_file}", unit_size(unit))
    batch = _Batch(source.name, unit.source_file, run_id)
    good = 0
    with lake.transaction():
        for location, record in items:
            stats.read += 1
            row = record if isinstance(record, Bad) else mapper.map(record, location)
            if isinstance(row, Bad):
                where = location if isinstance(record, Bad) else f"{word} {location}"
                batch.add_bad(where, row)
                stats.reasons[row.reason] += 1
            else:
                batch.prompts.append(row)
                good += 1
            if len(batch) >= settings.batch_size:
                stats.ingested += batch.flush(lake)
                failpoint("ingest.batch")  # rows written, transaction not committed
            if stats.read % PROGRESS_EVERY == 0:
                sink.update(position(), read=stats.read)
        if stats.read == 0:
            stats.read = 1
            batch.add_bad("file", Bad("empty_file", "the source holds no records"))
            stats.reasons["empty_file"] += 1
        stats.ingested += batch.flush(lake)
        stats.quarantined = sum(stats.reasons.values())
        stats.unchanged = good - stats.ingested
        lake.insert_records([
            IngestFile(
                run_id=run_id, source=source.name, source_file=unit.source_file, path=unit.location,
                format=unit.format, content_sha256=sha, read=stats.read, ingested=stats.ingested,
                unchanged=stats.unchanged, quarantined=stats.quarantined,
            )
        ])
    sink.update(position(), read=stats.read)
    sink.finish()
    stats.snapshot_id = lake.current_snapshot()
    return stats


def ingest_source(lake: Lake, source: SourceConfig, settings: IngestSettings, run_id: str) -> IngestReport:
    units = resolve_units(source.paths, source.format, source.split)
    return IngestReport(run_id, source.name, [ingest_unit(lake, u, source, settings, run_id) for u in units])
