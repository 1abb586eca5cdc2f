"""Tasks layer: named failpoints for crash tests (after FreeBSD/etcd `failpoint`s).

`failpoint("publish.staged")` does nothing unless $TEACHABLE_FAILPOINTS names that point, as
`name` (first time it is reached) or `name@N` (the N-th time in this process); then the
process kills itself with SIGKILL right there, exactly as `kill -9` from outside would, but
at a known step. Crash-resume tests use it to land inside short steps (a publish takes
milliseconds) that an outside timer would miss. Unset in production: one dict lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "TEACHABLE_FAILPOINTS"
_reached: Counter = Counter()


def armed() -> dict[str, int]:
    points = {}
    for item in filter(None, (p.strip() for p in os.environ.get(ENV, "").split(","))):
        name, _, nth = item.partition("@")
        points[name] = int(nth or 1)
    return points


def failpoint(name: str) -> None:
    if ENV not in os.environ:
        return
    wanted = armed().get(name)
    if wanted is None:
        return
    _reached[name] += 1
    if _reached[name] == wanted:
        os.kill(os.getpid(), signal.SIGKILL)
