"""Tasks layer: progress reporting that stages call and front ends display.

Stages call `progress().start(label, total)` / `.update(done)` / `.finish()`; by default that
does nothing. The CLI installs a rich progress bar for the duration of a command with
`use_progress`; a flow may install one that writes Prefect progress artifacts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class Progress:
    """No-op progress sink; subclasses show it somewhere."""

    def start(self, label: str, total: int | None) -> None: ...

    def update(self, done: int, **counters: int) -> None: ...

    def finish(self) -> None: ...


_current: ContextVar[Progress] = ContextVar("teachable_progress", default=Progress())


def progress() -> Progress:
    return _current.get()


@contextmanager
def use_progress(sink: Progress) -> Iterator[Progress]:
    token = _current.set(sink)
    try:
        yield sink
    finally:
        _current.reset(token)
