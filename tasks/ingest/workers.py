"""Tasks layer (ingest): JSON lines parsed and mapped by worker processes while this one writes.

Parsing and mapping a record is Python work under one GIL; writing it is DuckDB's. For a large
JSON lines file this process only reads (hashing what it reads), cuts the bytes into chunks of
whole lines, and writes the rows that come back; worker processes turn each chunk into Arrow
rows (`rows.map_items`), the very same code the single-process path runs, so rows, ids and
quarantine reasons are the same whichever path read a file. Results are taken in file order.

Workers come from a fork server started fresh (never a fork of this process, whose DuckDB
threads may hold locks), which imports this module once; `warm_up` starts it early so its
start overlaps opening the warehouse. A duplicate source id split across two chunks is found
here: each chunk reports the ids it registered, and a chunk that repeats an earlier one is
mapped again in this process against every id seen so far (rare: ids are mostly unique).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.connection import Connection

from schemas.errors import UserError
from tasks.ingest.mapping import RecordMapper
from tasks.ingest.rows import Mapped, map_items
from tasks.readers.files import Chunk, Item, chunk_items

MAX_WORKERS = 4
WORKERS_ENV = "TEACHABLE_INGEST_WORKERS"  # how many at most; 0: read every file in this process
MIN_BYTES = 32 << 20  # below this, starting workers costs more CPU than they save time
IN_FLIGHT = 2  # chunks queued per worker: enough to keep it busy, little memory
CHUNK_BYTES = 2 << 20  # small: the first rows come back soon, the last worker finishes soon after the others

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


def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    # The main module once here, not in every worker; pandas too: pyarrow imports it (when
    # installed) on first use, which costs each worker a quarter of a second otherwise.
    context.set_forkserver_preload(["__main__", __name__, "pandas"])
    return context


def warm_up() -> None:
    """Start the fork server now (it imports this module in the background)."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def _start(mapper: RecordMapper, word: str, lifeline: Connection) -> None:
    global _mapper, _word
    _mapper, _word = mapper, word
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


def _map_chunk(chunk: Chunk, track_ids: bool) -> bytes:
    """Map one chunk. The rows go back pickled with protocol 5, which copies Arrow buffers once,
    where the pool's own protocol 4 copies them twice more (a fifth less CPU to send them)."""
    assert _mapper is not None
    return pickle.dumps(map_items(chunk_items(chunk), _mapper, _word, track_ids), protocol=5)


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


def mapped_chunks(chunks: Iterator[Chunk | Item], mapper: RecordMapper, word: str, workers: int) -> Iterator[Mapped]:
    """The runs of a JSON lines file, in order, mapped by `workers` processes."""
    context = _context()
    lifeline, held = context.Pipe(duplex=False)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(mapper, word, lifeline))
    order = _InOrder(mapper, word)
    finished = False
    try:
        for chunk in chunks:
            future = pool.submit(_map_chunk, chunk, order.track_ids) if type(chunk) is Chunk else None
            order.pending.append((chunk, future))
            while len(order.pending) > IN_FLIGHT * workers:
                yield order.resolve()
        while order.pending:
            yield order.resolve()
        finished = True
    finally:
        # On an error (or a stop) nothing in flight is wanted: do not wait for it; the workers
        # see their lifeline close and stop.
        pool.shutdown(wait=finished, cancel_futures=not finished)
        held.close()
        lifeline.close()
