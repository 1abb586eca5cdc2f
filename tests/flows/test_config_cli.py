"""`teachable run` with a hostile config: one line, exit 2, the home untouched (the CLI's own
YAML loader; tests/schemas/test_config_hostile.py runs every case under each loader)."""

import pytest

from tests.schemas.test_config_hostile import GOOD, billion_laughs, write
from tests.support.cli import run_cli


@pytest.mark.parametrize("case", ["bomb", "nul", "deep"])
def test_cli_refuses_a_hostile_config_in_one_line(tmp_path, case):
    text = {"bomb": billion_laughs(), "nul": GOOD + "x: \0\n",
            "deep": GOOD + "x: " + "[" * 10_000 + "\n"}[case]
    config = write(tmp_path, text)
    proc = run_cli(None, "--home", str(tmp_path / "home"), "run", str(config), cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"{config}:" in proc.stderr
    assert not (tmp_path / "home").exists()  # refused before the home was touched
