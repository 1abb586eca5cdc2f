"""Shared fixtures: a temporary warehouse home, the ../shared data folder, one Prefect harness.

Prefect's home is pointed at a temporary directory before anything imports Prefect, so tests
never touch ~/.prefect; the harness (a real, temporary Prefect API) starts once per session
and only for tests that ask for it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_PREFECT_HOME = tempfile.mkdtemp(prefix="teachable-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.pop("TEACHABLE_HOME", None)  # tests always pass an explicit home
os.environ.pop("TEACHABLE_CATALOG", None)  # ... bound to the catalog the test chooses
os.environ.pop("TEACHABLE_FAILPOINTS", None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (override with TEACHABLE_DATA); the project never commits these files."""
    path = Path(os.environ.get("TEACHABLE_DATA", REPO.parent / "shared" / "data"))
    if not (path / "MANIFEST.md").exists():
        pytest.fail(f"shared data not found at {path}: set TEACHABLE_DATA to the shared/data folder")
    return path


@pytest.fixture
def home(tmp_path: Path):
    from warehouse.home import Home

    return Home.resolve(tmp_path / "home")


@pytest.fixture
def lake(home):
    from warehouse.lake import Lake

    with Lake(home) as opened:
        yield opened


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    from prefect.settings import PREFECT_API_URL

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def teachable_cli(prefect_harness, tmp_path):
    """Run the real `teachable` command in a subprocess against the session's Prefect API."""
    from tests.support.cli import run_cli

    def run(*args: str, check: bool = True):
        proc = run_cli(prefect_harness, *args, cwd=tmp_path)
        if check and proc.returncode != 0:
            raise AssertionError(f"teachable {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc

    return run
