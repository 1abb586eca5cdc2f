"""Tasks layer (ingest): the ingest stage, source units in, `prompts` + `quarantine` out.

Each unit (file, dataset split, generator spec, standard input) is written in one transaction,
i.e. one DuckLake snapshot, together with its `ingest_files` row: a crash mid-file leaves
nothing, a rerun redoes it. Rows are keyed by stable ids, so re-ingesting adds 0 rows. Every
record is counted once: read = ingested + unchanged + quarantined. A file that changes while it
is read keeps none of its rows: it is one `file_changed` quarantine entry, and a rerun reads it.
Standard input (`-`) is spooled to a temporary file first, so it is hashed and read like a file.
Records are mapped a run at a time (`rows.map_items`); a large JSON lines file is parsed and
mapped by worker processes (`workers`) while this process only writes, with the same rows.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from schemas.config import IngestSettings, SourceSettings
from schemas.records import IngestFile
from tasks.failpoints import ENV as FAILPOINTS
from tasks.failpoints import failpoint
from tasks.ingest import store
from tasks.ingest.mapping import RecordMapper
from tasks.ingest.rows import Mapped, map_items
from tasks.ingest.sources import Opened, SourceUnit, read_unit, resolve_units, unit_size
from tasks.ingest.workers import CHUNK_BYTES, FileChangedWhileRead, mapped_chunks, warm_up, worker_count
from tasks.progress import progress
from tasks.readers.files import Bad, Item, jsonl_chunks, sniff_json_kind
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
    """Mapped rows waiting to be written, written `size` records at a time.

    Prompt rows are written by one background thread while the caller maps or receives the next
    rows (DuckDB releases the GIL while it writes): at most one write is in flight, and it is
    waited for before anything else touches the connection (`wait`, `close`), so the unit stays
    one transaction and a rollback never races a write."""

    def __init__(self, source: str, source_file: str, run_id: str, fresh: bool = False, background: bool = False,
                 size: int = 1 << 62):
        self.source, self.source_file, self.run_id, self.fresh, self.size = source, source_file, run_id, fresh, size
        self.pending: list[Mapped] = []
        self.records = 0
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ingest-write") if background else None
        self._pending: Future | None = None

    def __len__(self) -> int:
        return self.records

    def add(self, mapped: Mapped) -> None:
        self.pending.append(mapped)
        self.records += mapped.read

    def full(self) -> bool:
        return self.records >= self.size

    def _table(self, table: pa.Table, stamp: str) -> pa.Table:
        n = table.num_rows
        constant = {k: _constant(v, n) for k, v in
                    (("source", self.source), ("source_file", self.source_file), ("run_id", self.run_id))}
        return pa.table({**{name: table.column(name) for name in table.column_names}, **constant,
                         stamp: _timestamps(now(), n)})

    def _take(self) -> Mapped:
        """The rows of the first `size` records pending (all of them when fewer)."""
        runs = Mapped.concat(self.pending) if self.pending else Mapped.empty()
        head, rest = runs.split(self.size) if runs.read > self.size else (runs, None)
        self.pending = [rest] if rest is not None else []
        self.records = rest.read if rest is not None else 0
        return head

    def flush(self, lake: Lake) -> int:
        """Write the first `size` records pending; returns how many prompt rows were new among
        the writes finished (a background write is counted by the next flush or `wait`)."""
        head = self._take()
        prompts = self._table(head.prompts, "ingested_at") if head.prompts.num_rows else None
        quarantine = self._table(head.quarantine, "quarantined_at") if head.quarantine.num_rows else None
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


def _batched(items: Iterable[Item], n: int) -> Iterator[list[Item]]:
    """Lists of `n` items (the last one shorter)."""
    items = iter(items)
    while run := list(islice(items, n)):
        yield run


def _workers(unit: SourceUnit) -> int:
    """Workers read the file's bytes at given places: a plain JSON lines file only."""
    plain = unit.format == "jsonl" and unit.is_file and not unit.is_stdin and Path(unit.location).suffix != ".gz"
    return worker_count(unit_size(unit)) if plain else 0


def prepare_workers(units: list[SourceUnit]) -> None:
    """Start the worker processes' fork server now if a unit will use workers: its start then
    overlaps whatever comes before the first file (opening the warehouse)."""
    if any(_workers(u) for u in units):
        warm_up()


def _runs(unit: SourceUnit, opened: Opened, mapper: RecordMapper) -> Iterator[Mapped]:
    """The unit's records mapped, run by run: a large JSON lines file by worker processes,
    anything else here, `PROGRESS_EVERY` records at a time."""
    word = _POSITION_WORD.get(unit.format, "row")
    workers = _workers(unit)
    if workers and opened.reader is not None:
        return mapped_chunks(unit.location, jsonl_chunks(opened.reader, CHUNK_BYTES), mapper, word, workers)
    return (map_items(items, mapper, word) for items in _batched(opened.items, PROGRESS_EVERY))


def _read_into(lake: Lake, unit: SourceUnit, source: SourceSettings, settings: IngestSettings,
               stats: UnitStats, batch: _Batch) -> str | None:
    """Read the unit into `batch` (flushing as it fills); returns the content sha256."""
    opened = read_unit(unit, source.split, source.hf_config)
    sink = progress()
    sink.start(f"{source.name}: {unit.source_file}", unit_size(unit))
    changed = False
    try:
        with closing(_runs(unit, opened, _mapper(unit, source, settings))) as runs:
            _consume(lake, runs, opened, stats, batch, sink)
        sha = opened.finish()
    except FileChangedWhileRead:  # a worker read other bytes than this process hashed
        changed = True
    finally:
        opened.close()
    if changed or opened.changed():
        raise _FileChanged(f"{unit.location} changed while it was read")
    sink.update(opened.position(), read=stats.read)
    sink.finish()
    return sha


def _consume(lake: Lake, runs: Iterator[Mapped], opened: Opened, stats: UnitStats, batch: _Batch, sink) -> None:
    """Count each run as it comes and write whenever a batch of records is full."""
    good = 0
    for mapped in runs:
        stats.read += mapped.read
        stats.reasons.update(mapped.reasons)
        good += mapped.prompts.num_rows
        batch.add(mapped)
        while batch.full():
            stats.ingested += batch.flush(lake)
            if FAILPOINTS in os.environ:  # the failpoint means "rows written": let the write land
                stats.ingested += batch.wait()
            failpoint("ingest.batch")  # rows written, transaction not committed
        sink.update(opened.position(), read=stats.read)
    stats.unchanged = good  # minus what the flushes store (the caller subtracts)


def _record(lake: Lake, unit: SourceUnit, fmt: str, source: SourceSettings, stats: UnitStats, run_id: str,
            sha: str | None) -> None:
    stats.quarantined = sum(stats.reasons.values())
    store.record_file(lake, IngestFile(
        run_id=run_id, source=source.name, source_file=unit.source_file,
        path=unit.location, format=fmt, content_sha256=sha,
        read=stats.read, ingested=stats.ingested, unchanged=stats.unchanged, quarantined=stats.quarantined,
    ))


def _file_entry(source: SourceSettings, unit: SourceUnit, bad: Bad) -> Mapped:
    """One quarantine entry about the whole unit (location 'file')."""
    return map_items([("file", bad)], RecordMapper(source.name, unit.source_file), "file")


def _ingest_once(lake: Lake, unit: SourceUnit, source: SourceSettings, settings: IngestSettings, run_id: str,
                 shown: SourceUnit) -> UnitStats:
    stats = UnitStats(shown.source_file, unit.format)
    fresh = store.file_is_new(lake, source.name, unit.source_file)
    batch = _Batch(source.name, unit.source_file, run_id, fresh, background=True, size=settings.batch_size)
    with lake.transaction():
        try:
            sha = _read_into(lake, unit, source, settings, stats, batch)
            if stats.read == 0:
                stats.read = 1
                batch.add(_file_entry(source, unit, Bad("empty_file", "the source holds no records")))
                stats.reasons["empty_file"] += 1
            while len(batch):
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
    batch.add(_file_entry(source, unit, Bad("file_changed", f"{why}: none of its rows were kept, ingest it again")))
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
    prepare_workers(units)
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
