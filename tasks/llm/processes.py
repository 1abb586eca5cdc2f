"""Tasks layer (llm): start and stop a child process together with everything it spawns.

The child leads its own process group; stopping sends SIGTERM to the group, waits until no
live member is left (zombies, which this container's PID 1 never reaps, do not count), then
SIGKILL. Used for the local vLLM server, whose engine runs in worker processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import IO, Any, Sequence

import psutil


def _spawn_process_group(
    cmd: Sequence[str],
    env: dict[str, str] | None = None,
    output: IO[Any] | None = None,
) -> subprocess.Popen:
    """Start ``cmd`` as the leader of a new session / process group.

    ``output`` is a file object receiving stdout and stderr; None inherits the terminal.
    """
    return subprocess.Popen(
        list(cmd),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies (exited, not yet reaped by their new parent) still count for killpg; ignore them.
    return any(_live(pid) for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    members = []
    for pid in psutil.pids():
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to ask
            if os.getpgid(pid) == pgid:
                members.append(pid)
    return members


def _live(pid: int) -> bool:
    """Running (or sleeping, stopped...), not a zombie nor dead; False when there is no such pid."""
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group(proc: subprocess.Popen, deadline: float) -> bool:
    """Wait until the leader has exited and no live member is left; True on success."""
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.1)
        if proc.returncode is not None and not _group_alive(proc.pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _stop_process_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the whole process group, wait up to ``timeout`` s, then SIGKILL what is left."""
    pgid = proc.pid  # leader of its own session, so pgid == pid
    if proc.returncode is not None and not _group_alive(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    if _wait_group(proc, time.monotonic() + timeout):
        return
    _signal_group(pgid, signal.SIGKILL)
    _wait_group(proc, time.monotonic() + 30)  # a loaded machine can take a while to reap GBs of memory
