"""Tasks layer (ingest): JSON lines parsed and mapped by worker processes while this one writes.

Parsing and mapping a record is Python work under one GIL; writing it is DuckDB's. For a large
JSON lines file (not gzip) this process only reads (hashing what it reads), cuts the bytes into
chunks of whole lines, and writes the rows that come back; worker processes read each chunk's
bytes from the file themselves (only its place goes through the pipe, so the pool's queue never
fills up) and turn them into Arrow rows (`rows.map_items`), the very same code the
single-process path runs, so rows, ids and quarantine reasons are the same whichever path read
a file. Results are taken in file order. A chunk whose bytes differ from what this process read
(a CRC-32 of each side) means the file changed: `FileChangedWhileRead`.

Workers come from the fork server `tasks.shards` starts (never a fork of this process, whose
DuckDB threads may hold locks), which imports this module once; `warm_up` starts it early so
its start overlaps opening the warehouse. A duplicate source id split across two chunks is found
here: each chunk reports the ids it registered, and a chunk that repeats an earlier one is
mapped again in this process against every id seen so far (rare: ids are mostly unique).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection

from schemas.errors import UserError
from tasks import shards
from tasks.ingest.mapping import RecordMapper
from tasks.ingest.rows import Mapped, map_items
from tasks.readers.files import Chunk, Item, chunk_items

MAX_WORKERS = 4
WORKERS_ENV = "TEACHABLE_INGEST_WORKERS"  # how many at most; 0: read every file in this process
MIN_BYTES = 32 << 20  # below this, starting workers costs more CPU than they save time
IN_FLIGHT = 2  # chunks queued per worker: enough to keep it busy, little memory
CHUNK_BYTES = 2 << 20  # small: the first rows come back soon, the last worker finishes soon after the others

_file = -1  # a worker's own descriptor of the file
_mapper: RecordMapper | None = None
_word = "line"


def _most_workers() -> int:
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        return MAX_WORKERS
    if not text.isdigit():
        raise UserError(f"{WORKERS_ENV} must be a whole number of worker processes (0: none), not {text!r}")
    return int(text)


def worker_count(size: int | None) -> int:
    """How many workers a JSON lines file of `size` bytes gets: 0 means read it in this process."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    most = _most_workers()
    if size is None or size < MIN_BYTES or cpus < 2:
        return 0
    return min(cpus, most)


# Imported once in the fork server (shared with other stages' workers, `tasks.shards`): the main
# module, else every worker imports it itself, and pandas, which pyarrow imports (when
# installed) on first use, a quarter of a second per worker otherwise.
_PRELOAD = ("__main__", __name__, "pandas")


def warm_up() -> None:
    """Start the fork server now (it imports the modules above in the background)."""
    shards.warm_up(_PRELOAD)


def _context() -> multiprocessing.context.BaseContext:
    warm_up()  # a no-op once the server runs
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _start(path: str, mapper: RecordMapper, word: str, lifeline: Connection) -> None:
    global _file, _mapper, _word
    _file, _mapper, _word = os.open(path, os.O_RDONLY), mapper, word
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; the lifeline ends us
    threading.Thread(target=_exit_with_parent, args=(lifeline,), daemon=True).start()


def _exit_with_parent(lifeline: Connection) -> None:
    """Only the parent holds the other end: when it dies (even by SIGKILL) this one goes too,
    instead of waiting forever for chunks (its own end of the task queue keeps that open)."""
    try:
        lifeline.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(1)


def _map_span(span: _Span, track_ids: bool) -> bytes:
    """Read and map one chunk. The rows go back pickled with protocol 5, which copies Arrow
    buffers once, where the pool's own protocol 4 copies them twice more (a fifth less CPU)."""
    assert _mapper is not None
    data = os.pread(_file, span.length, span.offset)
    if len(data) != span.length or zlib.crc32(data) != span.crc:
        raise FileChangedWhileRead(f"bytes {span.offset}-{span.offset + span.length} changed")
    mapped = map_items(chunk_items(Chunk(data, span.before, span.last, span.offset)), _mapper, _word, track_ids)
    return pickle.dumps(mapped, protocol=5)


class FileChangedWhileRead(Exception):
    """A worker read other bytes than this process did at the same place of the file."""


@dataclass(frozen=True, slots=True)
class _Span:
    """Where a chunk lies in the file, and the CRC-32 of the bytes this process read there."""

    offset: int
    length: int
    before: int
    last: bool
    crc: int

    @classmethod
    def of(cls, chunk: Chunk) -> _Span:
        return cls(chunk.offset, len(chunk.data), chunk.before, chunk.last, zlib.crc32(chunk.data))


class _InOrder:
    """Chunks in flight, resolved in file order (ids checked across chunks)."""

    def __init__(self, mapper: RecordMapper, word: str):
        self.mapper, self.word = mapper, word
        self.track_ids = mapper.id_field is not None
        self.pending: deque[tuple[Chunk | Item, Future | None]] = deque()

    def resolve(self) -> Mapped:
        chunk, future = self.pending.popleft()
        if future is None:  # a reader's item (a read that failed): mapped here
            return map_items([chunk], self.mapper, self.word)  # type: ignore[list-item]
        mapped = pickle.loads(future.result())
        if mapped.ids is None:
            return mapped
        seen = self.mapper.seen_ids
        if seen.isdisjoint(mapped.ids):
            seen.update(mapped.ids)
            return mapped
        return map_items(chunk_items(chunk), self.mapper, self.word)  # type: ignore[arg-type]


def mapped_chunks(path: str, chunks: Iterator[Chunk | Item], mapper: RecordMapper, word: str,
                  workers: int) -> Iterator[Mapped]:
    """The runs of the JSON lines file at `path` (read as `chunks`), in order, mapped by
    `workers` processes."""
    context = _context()
    lifeline, held = context.Pipe(duplex=False)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                               initargs=(path, mapper, word, lifeline))
    order = _InOrder(mapper, word)
    finished = False
    try:
        for chunk in chunks:
            future = pool.submit(_map_span, _Span.of(chunk), order.track_ids) if type(chunk) is Chunk else None
            order.pending.append((chunk, future))
            while len(order.pending) > IN_FLIGHT * workers:
                yield order.resolve()
        while order.pending:
            yield order.resolve()
        finished = True
    finally:
        # On an error (or Ctrl-C, which workers ignore) the chunks not started are dropped and
        # the pool is waited for: a worker stopped while it sends its rows would leave the pool's
        # reader blocked on half a message. The lifeline is for a parent killed outright.
        pool.shutdown(wait=True, cancel_futures=not finished)
        held.close()
        lifeline.close()
