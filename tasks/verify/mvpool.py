"""Tasks layer (verify): a thread-safe pool of math-verify worker processes with hard timeouts.

Contract: `check(gold, pred, timeout_s, symmetric=False)` returns the worker's reply dict
(status "ok" with "equal", "unparsed", "timeout" or "error" with "error") and never raises.
Any thread may call it. Each call takes an idle worker (or starts one, up to `max_workers`;
further callers wait for a free slot, a wait not counted in `timeout_s`). The worker bounds
itself with SIGALRM at `timeout_s`; if it has not answered `GRACE_S` later (stuck in C code),
it is killed with SIGKILL and replaced on a later call. A worker that timed out or failed is
retired too, so no interrupted sympy state is reused. Workers exit when their stdin closes,
i.e. at interpreter exit (atexit closes them) or when this process dies.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

GRACE_S = 2.0
STARTUP_TIMEOUT_S = 120.0  # importing sympy on a loaded 2-core machine can take a while
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds `tasks/`


class _WorkerFailure(Exception):
    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status = status


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tasks.verify.mvworker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=_PACKAGE_ROOT, env=env, bufsize=0,
            start_new_session=True,  # Ctrl-C in a terminal stops the caller, not its workers
        )
        try:
            reply = self._read_line(STARTUP_TIMEOUT_S)
        except (_WorkerFailure, ValueError) as error:
            self.close()
            raise _WorkerFailure("error", f"worker did not start: {error}") from error
        if reply.get("status") != "ready":
            self.close()
            raise _WorkerFailure("error", f"worker did not start: {reply}")

    def _read_line(self, wait_s: float) -> dict:
        # poll, not select: select fails on descriptors above 1024 in busy processes.
        poller = select.poll()
        fd = self.proc.stdout.fileno()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        deadline = time.monotonic() + wait_s
        buffer = b""
        while not buffer.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise _WorkerFailure("timeout", "worker did not answer in time")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise _WorkerFailure("error", f"worker exited (code {self.proc.poll()})")
            buffer += chunk
        return json.loads(buffer)

    def request(self, payload: dict, wait_s: float) -> dict:
        data = memoryview((json.dumps(payload) + "\n").encode("utf-8", "surrogatepass"))
        try:
            while data:  # a raw pipe write may be partial
                data = data[os.write(self.proc.stdin.fileno(), data) :]
        except OSError as error:
            raise _WorkerFailure("error", f"worker unreachable: {error}") from error
        return self._read_line(wait_s)

    def close(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # unkillable (D state): leave it to the kernel
            pass


class MathVerifyPool:
    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or max(2, min(8, os.cpu_count() or 2))
        self.pid = os.getpid()
        self._slots = threading.BoundedSemaphore(self.max_workers)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()
        self.started = 0  # workers started so far (tests and diagnostics)

    def _take(self) -> _Worker:
        while True:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is None:
                break
            if worker.proc.poll() is None:
                return worker
            self._retire(worker)  # died while idle (OOM killer, kill -9): start a fresh one
        worker = _Worker()  # outside the lock: other threads keep working while this starts
        with self._lock:
            self._live.add(worker)
            self.started += 1
        return worker

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)
        worker.close()

    def check(self, gold: str, pred: str, timeout_s: float, *, symmetric: bool = False) -> dict:
        payload = {"gold": gold, "pred": pred, "timeout": float(timeout_s), "symmetric": symmetric}
        with self._slots:
            try:
                worker = self._take()
            except (_WorkerFailure, OSError, ValueError) as error:
                return {"status": "error", "error": f"math-verify worker: {error}"}
            try:
                reply = worker.request(payload, float(timeout_s) + GRACE_S)
            except (_WorkerFailure, ValueError) as error:  # ValueError: a garbled reply
                self._retire(worker)
                status = error.status if isinstance(error, _WorkerFailure) else "error"
                return {"status": status, "error": str(error)}
            if reply.get("status") in ("ok", "unparsed"):
                with self._lock:
                    self._idle.append(worker)
            else:
                self._retire(worker)
            return reply

    def close(self) -> None:
        with self._lock:
            workers, self._idle, self._live = list(self._live), [], set()
        for worker in workers:
            worker.close()


_pool: MathVerifyPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> MathVerifyPool:
    """The process-wide pool, created on first use (a forked child gets its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = MathVerifyPool()
        return _pool


def _after_fork_in_child() -> None:
    # The parent's lock may have been held by another thread at fork time, and its workers'
    # pipes belong to the parent: start over without touching them.
    global _pool, _pool_lock
    _pool_lock = threading.Lock()
    _pool = None


def _close_at_exit() -> None:
    if _pool is not None and _pool.pid == os.getpid():
        _pool.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_at_exit)
