"""The home's run lock: one writing run at a time, re-entrant in-process, freed by SIGKILL."""

import os
import signal
import subprocess
import sys
import time

import pytest

from schemas.errors import WarehouseBusyError
from warehouse.runlock import hold_home

HOLD = "import sys, time; from warehouse.home import Home; from warehouse.runlock import hold_home\n" \
       "with hold_home(Home.resolve(sys.argv[1]), 'teachable run nightly.yaml'):\n" \
       "    print('held', flush=True); time.sleep(float(sys.argv[2]))\n"


def holder(home, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(home.root), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_holder_is_refused_naming_the_first(home):
    proc = holder(home, 30)
    try:
        with pytest.raises(WarehouseBusyError) as refused:
            with hold_home(home, "teachable ingest", wait=0):
                pass
        message = str(refused.value)
        assert "teachable run nightly.yaml" in message and f"pid {proc.pid}" in message
        assert "TEACHABLE_LOCK_WAIT" in message
    finally:
        proc.kill()
        proc.wait()


def test_waiter_gets_the_lock_when_the_holder_finishes(home):
    proc = holder(home, 1.5)
    started = time.monotonic()
    with hold_home(home, "teachable ingest", wait=60):
        waited = time.monotonic() - started
    proc.wait()
    assert 0.5 < waited < 30


def test_sigkilled_holder_leaves_no_stale_lock(home):
    proc = holder(home, 60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with hold_home(home, "teachable run", wait=0):
        pass


def test_reentrant_within_a_process(home):
    with hold_home(home, "curate", wait=0):
        with hold_home(home, "dedup", wait=0):  # a stage flow inside the curate flow
            pass
        with hold_home(home, "traces", wait=0):
            pass


def test_wait_from_environment(home, monkeypatch):
    proc = holder(home, 1.0)
    monkeypatch.setenv("TEACHABLE_LOCK_WAIT", "60")
    with hold_home(home, "teachable ingest"):
        pass
    proc.wait()
    monkeypatch.setenv("TEACHABLE_LOCK_WAIT", "soon")
    with pytest.raises(WarehouseBusyError, match="not a number"):
        with hold_home(home, "x"):
            pass
