"""Tasks layer (ingest): a run of source records -> Arrow prompt and quarantine rows.

`map_items` maps records one by one (`RecordMapper.fields`), then hashes every problem of the
run at once and builds the columns in Arrow: `Mapped` is what a run of records became, small
to send between processes (Arrow buffers, no Python objects per row). Every row remembers the
position of its record in the run, so a writer can cut runs into write batches of an exact
number of records, whatever the runs' sizes.
"""

from __future__ import annotations

import gc
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from tasks.ingest.fields import ID_SEPARATOR, prompt_ids, text_hashes
from tasks.ingest.mapping import PROMPT_COLUMNS, RecordMapper
from tasks.readers.files import Bad, Item

QUARANTINE_COLUMNS = ("quarantine_id", "location", "reason", "detail", "raw")


def quarantine_id(source: str, source_file: str, location: str, bad: Bad) -> str:
    key = ID_SEPARATOR.join((source, source_file, location, bad.reason, bad.raw or ""))
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _strings(values: Iterable) -> pa.Array:
    return pa.array(values, pa.string())


def _empty(names: tuple[str, ...]) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in names})


@dataclass
class Mapped:
    """What `read` records became: prompt rows, quarantine rows, and for each row the position
    of its record among the `read` (0-based). `ids` are the source ids the mapper saw (only with
    an id field: a duplicate across runs mapped apart is found by the one who joins them)."""

    read: int
    prompts: pa.Table
    prompt_at: np.ndarray
    quarantine: pa.Table
    quarantine_at: np.ndarray
    reasons: Counter = field(default_factory=Counter)
    ids: frozenset[str] | None = None

    @classmethod
    def empty(cls) -> Mapped:
        none = np.zeros(0, np.int64)
        return cls(0, _empty(PROMPT_COLUMNS), none, _empty(QUARANTINE_COLUMNS), none)

    def split(self, records: int) -> tuple[Mapped, Mapped]:
        """The rows of the first `records` records, and the rest (without reasons: those are
        counted when a run arrives, not when it is written)."""
        p = int(np.searchsorted(self.prompt_at, records))
        q = int(np.searchsorted(self.quarantine_at, records))
        head = Mapped(records, self.prompts.slice(0, p), self.prompt_at[:p],
                      self.quarantine.slice(0, q), self.quarantine_at[:q])
        rest = Mapped(self.read - records, self.prompts.slice(p), self.prompt_at[p:] - records,
                      self.quarantine.slice(q), self.quarantine_at[q:] - records)
        return head, rest

    @staticmethod
    def concat(runs: list[Mapped]) -> Mapped:
        if len(runs) == 1:
            return runs[0]
        offsets = np.cumsum([0] + [r.read for r in runs[:-1]])
        return Mapped(
            int(sum(r.read for r in runs)),
            pa.concat_tables([r.prompts for r in runs]),
            np.concatenate([r.prompt_at + o for r, o in zip(runs, offsets)]),
            pa.concat_tables([r.quarantine for r in runs]),
            np.concatenate([r.quarantine_at + o for r, o in zip(runs, offsets)]),
        )


@contextmanager
def _without_gc() -> Iterator[None]:
    """Mapping makes many objects and no reference cycles: the cyclic collector would run again
    and again for nothing (about a tenth of the time). It is switched back on afterwards."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def map_items(items: Iterable[Item], mapper: RecordMapper, word: str, track_ids: bool = False) -> Mapped:
    """Map a run of reader items: `word` names a record's position in quarantine locations
    ('line 12'); a reader's own `Bad` keeps its location. `track_ids`: report the source ids
    this run registered (the mapper then starts the run with none)."""
    with _without_gc():
        return _map_items(items, mapper, word, track_ids)


def _map_items(items: Iterable[Item], mapper: RecordMapper, word: str, track_ids: bool) -> Mapped:
    if track_ids:
        mapper.seen_ids = set()
    rows: list[tuple] = []
    prompt_at: list[int] = []
    bad_rows: list[tuple] = []
    bad_at: list[int] = []
    reasons: Counter = Counter()
    source, source_file, fields = mapper.source, mapper.source_file, mapper.fields
    add, at = rows.append, prompt_at.append
    index = -1
    for index, (location, record) in enumerate(items):
        row = record if type(record) is Bad else fields(record, location)
        if type(row) is tuple:
            add(row)
            at(index)
            continue
        where = location if type(record) is Bad else f"{word} {location}"
        bad_rows.append((quarantine_id(source, source_file, where, row), where, row.reason, row.detail, row.raw))
        bad_at.append(index)
        reasons[row.reason] += 1
    return Mapped(
        index + 1, _prompt_table(mapper, rows), np.array(prompt_at, np.int64),
        _table(QUARANTINE_COLUMNS, bad_rows), np.array(bad_at, np.int64), reasons,
        frozenset(mapper.seen_ids) if track_ids else None,
    )


def _table(names: tuple[str, ...], rows: list[tuple]) -> pa.Table:
    if not rows:
        return _empty(names)
    return pa.table({name: _strings(values) for name, values in zip(names, zip(*rows))})


def _prompt_table(mapper: RecordMapper, rows: list[tuple]) -> pa.Table:
    if not rows:
        return _empty(PROMPT_COLUMNS)
    source_ids, problems, answers, answer_raws, domains, extras = zip(*rows)
    hashes = text_hashes(problems)
    ids = prompt_ids(mapper.source, mapper.source_file, source_ids, hashes)
    columns = dict(zip(PROMPT_COLUMNS, (ids, source_ids, problems, answers, answer_raws, domains, hashes, extras)))
    return pa.table({name: _strings(values) for name, values in columns.items()})
