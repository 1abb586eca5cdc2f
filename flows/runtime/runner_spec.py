"""Flows layer (runtime): reading a `--task-runner` value, without importing Prefect.

`kind_of` names what a value asks for (local, threads, dask) and refuses a malformed one;
`check` also makes sure a Dask scheduler answers. Stage commands run locally (the default)
check their flag with these alone, so they start without Prefect's import time; the task
runners themselves are built in `task_runners`.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from schemas.errors import UserError
from tasks.shards import default_workers

CHOICES = "local, threads[:N] or dask://HOST:PORT"
CONNECT_TIMEOUT_S = 5.0


def check(spec: str | None) -> str:
    """`kind_of`, and for dask that its scheduler accepts connections (a UserError if not)."""
    kind = kind_of(spec)
    if kind == "dask":
        host, port = _host_port(spec.strip())
        _reachable(host, port, f"tcp://{host}:{port}")
    return kind


def kind_of(spec: str | None) -> str:
    """local | threads | dask; a malformed value is a UserError (no connection is tried)."""
    value = (spec or "local").strip()
    if value == "local":
        return "local"
    if value == "threads" or value.startswith("threads:"):
        threads_of(value)
        return "threads"
    if value.startswith("dask://"):
        _host_port(value)
        return "dask"
    raise UserError(f"unknown task runner {value!r}: use {CHOICES}")


def threads_of(value: str) -> int:
    count = value.partition(":")[2] or str(default_workers())
    if not count.isdigit() or int(count) < 1:
        raise UserError(f"bad task runner {value!r}: threads:N needs a whole number N >= 1")
    return int(count)


def _host_port(value: str) -> tuple[str, int]:
    try:
        parts = urlsplit(value)
        host, port, rest = parts.hostname, parts.port, parts.path.strip("/") + parts.query
    except ValueError:  # a port that is not a number in 0-65535
        host = port = rest = None
    if not host or not port or rest:
        raise UserError(f"bad task runner {value!r}: use dask://HOST:PORT (the scheduler's address)")
    return host, port


def _reachable(host: str, port: int, address: str) -> None:
    # Checked before any work: the Dask client would only fail at the first shard, after a
    # 30 s timeout, as a traceback inside the flow run.
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"cannot reach the Dask scheduler at {address}: {reason} "
                        "(is `dask scheduler` running there?)") from None
