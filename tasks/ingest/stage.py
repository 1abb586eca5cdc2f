"""Tasks layer (ingest): the ingest stage, source units in, `prompts` + `quarantine` out.

Each unit (file, dataset split, generator spec, standard input) is written in one transaction,
i.e. one DuckLake snapshot, together with its `ingest_files` row: a crash mid-file leaves
nothing, a rerun redoes it. Rows are keyed by stable ids, so re-ingesting adds 0 rows. Every
record is counted once: read = ingested + unchanged + quarantined. A file that changes while it
is read keeps none of its rows: it is one `file_changed` quarantine entry, and a rerun reads it.
Standard input (`-`) is spooled to a temporary file first, so it is hashed and read like a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from schemas.config import IngestSettings, SourceSettings
from schemas.records import IngestFile
from tasks.failpoints import ENV as FAILPOINTS
from tasks.failpoints import failpoint
from tasks.ingest import store
from tasks.ingest.fields import ID_SEPARATOR
from tasks.ingest.mapping import PROMPT_COLUMNS, RecordMapper
from tasks.ingest.sources import Opened, SourceUnit, read_unit, resolve_units, unit_size
from tasks.progress import progress
from tasks.readers.files import Bad, sniff_json_kind
from tasks.runs import Funnel, now
from warehouse.lake import Lake

if TYPE_CHECKING:
    from schemas.config import IngestJob
    from tasks.stage import StageContext

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


def _constant(value: object, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value), n)


def _timestamps(at, n: int) -> pa.Array:
    micros = int(at.timestamp() * 1_000_000)
    return pa.array(np.full(n, micros, dtype=np.int64)).view(pa.timestamp("us", tz="UTC"))


class _Batch:
    """Rows of one write, kept as tuples and turned into Arrow at flush time.

    Prompt rows are written by one background thread while the caller maps the next batch
    (DuckDB releases the GIL while it writes): at most one write is in flight, and it is waited
    for before anything else touches the connection (`wait`, `close`), so the unit stays one
    transaction and a rollback never races a write."""

    def __init__(self, source: str, source_file: str, run_id: str, fresh: bool = False, background: bool = False):
        self.source, self.source_file, self.run_id, self.fresh = source, source_file, run_id, fresh
        self.prompts: list[tuple] = []
        self.quarantine: list[tuple] = []
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ingest-write") if background else None
        self._pending: Future | None = None

    def __len__(self) -> int:
        return len(self.prompts) + len(self.quarantine)

    def add_bad(self, location: str, bad: Bad) -> None:
        key = ID_SEPARATOR.join((self.source, self.source_file, location, bad.reason, bad.raw or ""))
        qid = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        self.quarantine.append((qid, location, bad.reason, bad.detail, bad.raw))

    def _table(self, names: tuple[str, ...], rows: list[tuple], stamp: str) -> pa.Table:
        n = len(rows)
        columns = {name: pa.array(values, pa.string()) for name, values in zip(names, zip(*rows))}
        constant = {k: _constant(v, n) for k, v in
                    (("source", self.source), ("source_file", self.source_file), ("run_id", self.run_id))}
        return pa.table({**columns, **constant, stamp: _timestamps(now(), n)})

    def flush(self, lake: Lake) -> int:
        """Write and clear; returns how many prompt rows were new among the writes finished
        (a background write is counted by the next flush or `wait`)."""
        prompts = self._table(PROMPT_COLUMNS, self.prompts, "ingested_at") if self.prompts else None
        names = ("quarantine_id", "location", "reason", "detail", "raw")
        quarantine = self._table(names, self.quarantine, "quarantined_at") if self.quarantine else None
        self.prompts, self.quarantine = [], []
        new = self.wait()
        if quarantine is not None:
            store.write_quarantine(lake, quarantine)
        if prompts is not None:
            if self._writer is None:
                new += store.write_prompts(lake, prompts, self.fresh)
            else:
                self._pending = self._writer.submit(store.write_prompts, lake, prompts, self.fresh)
        return new

    def wait(self) -> int:
        """Finish the write in flight; how many of its rows were new."""
        pending, self._pending = self._pending, None
        return pending.result() if pending is not None else 0

    def close(self) -> None:
        """After an error too: no write may outlive the unit's transaction."""
        if self._pending is not None:
            futures_wait([self._pending])
            self._pending = None
        if self._writer is not None:
            self._writer.shutdown()


class _FileChanged(Exception):
    """The file on disk changed while it was read: its rows are rolled back."""


def _mapper(unit: SourceUnit, source: SourceSettings, settings: IngestSettings) -> RecordMapper:
    id_field = source.id_field or ("id" if unit.format == "procedural" else None)
    return RecordMapper(
        source=source.name,
        source_file=unit.source_file,
        problem_field=source.problem_field,
        answer_field=source.answer_field,
        id_field=id_field,
        domain=source.domain,
        max_problem_chars=settings.max_problem_chars,
        keep_extra=settings.keep_extra,
    )


@contextmanager
def _spooled(unit: SourceUnit, source: SourceSettings) -> Iterator[SourceUnit]:
    """Standard input copied to a temporary file (read once, hashed, sniffed like a file)."""
    if not unit.is_stdin:
        yield unit
        return
    with tempfile.TemporaryDirectory(prefix="teachable-stdin-") as folder:
        copy = Path(folder) / "stdin"
        with open(copy, "wb") as handle:
            shutil.copyfileobj(sys.stdin.buffer, handle, 1 << 20)
        fmt = unit.format if source.format else sniff_json_kind(copy)
        yield replace(unit, format=fmt, location=str(copy))


def _read_into(lake: Lake, unit: SourceUnit, source: SourceSettings, settings: IngestSettings,
               stats: UnitStats, batch: _Batch) -> str | None:
    """Read the unit into `batch` (flushing as it fills); returns the content sha256."""
    opened = read_unit(unit, source.split, source.hf_config)
    sink = progress()
    sink.start(f"{source.name}: {unit.source_file}", unit_size(unit))
    try:
        _consume(lake, opened, _mapper(unit, source, settings), _POSITION_WORD.get(unit.format, "row"),
                 settings.batch_size, stats, batch, sink)
        sha = opened.finish()
    finally:
        opened.close()
    if opened.changed():
        raise _FileChanged(f"{unit.location} changed while it was read")
    sink.update(opened.position(), read=stats.read)
    sink.finish()
    return sha


def _consume(lake: Lake, opened: Opened, mapper: RecordMapper, word: str, batch_size: int,
             stats: UnitStats, batch: _Batch, sink) -> None:
    """The hot loop: locals only, one mapper call per record."""
    good, read, pending, reasons, add, map_record = 0, 0, 0, stats.reasons, batch.prompts.append, mapper.map
    for location, record in opened.items:
        read += 1
        pending += 1
        row = record if type(record) is Bad else map_record(record, location)
        if type(row) is tuple:
            add(row)
            good += 1
        else:
            where = location if type(record) is Bad else f"{word} {location}"
            batch.add_bad(where, row)
            reasons[row.reason] += 1
        if pending >= batch_size:
            stats.ingested += batch.flush(lake)
            add, pending = batch.prompts.append, 0
            if FAILPOINTS in os.environ:  # the failpoint means "rows written": let the write land
                stats.ingested += batch.wait()
            failpoint("ingest.batch")  # rows written, transaction not committed
        if read % PROGRESS_EVERY == 0:
            sink.update(opened.position(), read=read)
    stats.read = read
    stats.unchanged = good  # minus what the flushes store (the caller subtracts)


def _record(lake: Lake, unit: SourceUnit, fmt: str, source: SourceSettings, stats: UnitStats, run_id: str,
            sha: str | None) -> None:
    stats.quarantined = sum(stats.reasons.values())
    store.record_file(lake, IngestFile(
        run_id=run_id, source=source.name, source_file=unit.source_file,
        path=unit.location, format=fmt, content_sha256=sha,
        read=stats.read, ingested=stats.ingested, unchanged=stats.unchanged, quarantined=stats.quarantined,
    ))


def _ingest_once(lake: Lake, unit: SourceUnit, source: SourceSettings, settings: IngestSettings, run_id: str,
                 shown: SourceUnit) -> UnitStats:
    stats = UnitStats(shown.source_file, unit.format)
    fresh = store.file_is_new(lake, source.name, unit.source_file)
    batch = _Batch(source.name, unit.source_file, run_id, fresh, background=True)
    with lake.transaction():
        try:
            sha = _read_into(lake, unit, source, settings, stats, batch)
            if stats.read == 0:
                stats.read = 1
                batch.add_bad("file", Bad("empty_file", "the source holds no records"))
                stats.reasons["empty_file"] += 1
            stats.ingested += batch.flush(lake)
            stats.ingested += batch.wait()
        finally:
            batch.close()
        stats.unchanged -= stats.ingested
        _record(lake, shown, unit.format, source, stats, run_id, sha)
    return stats


def _changed(lake: Lake, unit: SourceUnit, source: SourceSettings, run_id: str, why: str) -> UnitStats:
    """The unit's rows were rolled back: one quarantine entry says why; a rerun reads it again."""
    stats = UnitStats(unit.source_file, unit.format, read=1)
    stats.reasons["file_changed"] += 1
    batch = _Batch(source.name, unit.source_file, run_id)
    batch.add_bad("file", Bad("file_changed", f"{why}: none of its rows were kept, ingest it again"))
    with lake.transaction():
        batch.flush(lake)
        _record(lake, unit, unit.format, source, stats, run_id, None)
    return stats


def ingest_unit(lake: Lake, unit: SourceUnit, source: SourceSettings, settings: IngestSettings, run_id: str) -> UnitStats:
    try:
        with _spooled(unit, source) as readable:
            stats = _ingest_once(lake, readable, source, settings, run_id, unit)
    except _FileChanged as exc:
        stats = _changed(lake, unit, source, run_id, str(exc))
    stats.snapshot_id = store.snapshot(lake)
    return stats


def ingest_source(lake: Lake, source: SourceSettings, settings: IngestSettings, run_id: str) -> IngestReport:
    units = resolve_units(source.paths, source.format, source.split, exclude=[lake.home.root])
    return IngestReport(run_id, source.name, [ingest_unit(lake, u, source, settings, run_id) for u in units])


READS: tuple[str, ...] = ()
WRITES = ("prompts", "quarantine", "ingest_files")


@dataclass
class IngestRunReport:
    """One ingest run: a report per source."""

    sources: list[IngestReport]

    def totals(self) -> dict:
        return {k: sum(r.totals()[k] for r in self.sources) for k in ("read", "ingested", "unchanged", "quarantined")}

    def funnel(self) -> Funnel:
        return Funnel.total(r.funnel() for r in self.sources)

    def as_dict(self) -> dict:
        return {"totals": self.totals(), "units": [u.as_dict() for r in self.sources for u in r.units]}

    def file_rows(self) -> list[dict]:
        return [{"source": r.source, "file": u.source_file, "read": u.read, "ingested": u.ingested,
                 "unchanged": u.unchanged, "quarantined": u.quarantined,
                 "reasons": ", ".join(f"{k}={v}" for k, v in sorted(u.reasons.items()))}
                for r in self.sources for u in r.units]


def run(ctx: StageContext, settings: IngestJob) -> IngestRunReport:
    return IngestRunReport([ingest_source(ctx.lake, source, settings.settings, ctx.run_id) for source in settings.sources])


def summarize(report: IngestRunReport) -> dict:
    return {"totals": report.totals(), "files": report.file_rows()}
