"""Test utility: the oracle endpoint (tests/support/oracle.py) as a process of its own.

`python -m tests.support.oracle_server SPEC` serves the oracle for the procedural problems of
SPEC on a free loopback port, prints its base URL on the first line, and serves until killed.
Benchmarks use it so the endpoint does not share the measured process's GIL.
"""

from __future__ import annotations

import sys
import threading

from tests.support.fake_openai import FakeOpenAI
from tests.support.oracle import oracle, procedural_answers


def main(spec: str) -> None:
    with FakeOpenAI(oracle(procedural_answers(spec))) as fake:
        print(fake.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1])
