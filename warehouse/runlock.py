"""Warehouse layer: one writing run per home at a time.

The DuckDB catalog lock only covers one open `Lake`, and a curate run opens and closes the lake
once per stage, so a second run could slip in between two stages. `hold_home` takes an
advisory `flock` on HOME/run.lock for the whole run: the kernel drops it when the holder dies
(even by SIGKILL), so a crash never leaves a stale lock. Re-entrant within a process, because
the curate flow holds it while calling the stage flows, which take it too.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from schemas.errors import WarehouseBusyError
from warehouse.home import Home

WAIT_ENV = "TEACHABLE_LOCK_WAIT"
POLL_S = 0.5

_held: dict[Path, int] = {}  # lock path -> depth, for this process
_guard = threading.Lock()


def lock_path(home: Home) -> Path:
    return home.root / "run.lock"


def default_wait() -> float:
    """Seconds to wait for a busy home: $TEACHABLE_LOCK_WAIT, else 0 (refuse at once)."""
    raw = os.environ.get(WAIT_ENV, "0").strip()
    try:
        return float(raw) if raw.lower() not in ("inf", "forever") else float("inf")
    except ValueError:
        raise WarehouseBusyError(f"{WAIT_ENV}={raw!r} is not a number of seconds") from None


def holder(path: Path) -> str:
    """Who holds the lock, as written by that holder (best effort: it may be mid-write)."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another teachable process"
    return f"`{info.get('what', 'teachable')}` (pid {info.get('pid')} on {info.get('host')}, since {info.get('since')})"


@contextmanager
def hold_home(home: Home, what: str, wait: float | None = None) -> Iterator[None]:
    """Hold the home's run lock; wait up to `wait` seconds (None: $TEACHABLE_LOCK_WAIT) then refuse."""
    home.root.mkdir(parents=True, exist_ok=True)
    path = lock_path(home)
    with _guard:
        if _held.get(path):
            _held[path] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    fd = acquire(path, default_wait() if wait is None else wait)
    try:
        write_holder(fd, what)
        with _guard:
            _held[path] = 1
        yield
    finally:
        with _guard:
            _held.pop(path, None)
        os.close(fd)  # closing the descriptor releases the flock


def acquire(path: Path, wait: float) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if wait and not told:
                print(f"home {path.parent} is busy: waiting up to {wait:g} s for {holder(path)}", file=sys.stderr, flush=True)
                told = True
            if time.monotonic() >= deadline:
                os.close(fd)
                waited = f" after waiting {wait:g} s" if wait else ""
                raise WarehouseBusyError(
                    f"home {path.parent} is busy{waited}: {holder(path)} is running there; "
                    f"wait for it to finish, or set {WAIT_ENV}=SECONDS (or --wait) to queue behind it"
                ) from None
            time.sleep(POLL_S)


def write_holder(fd: int, what: str) -> None:
    info = {"what": what, "pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
