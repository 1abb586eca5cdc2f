"""The real `teachable` command in a subprocess, pointed at a Prefect API (tests only).

One place builds the command line and its environment, so the CLI tests, the curate tests and
the crash-resume test start the product the same way a user does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli_env(api_url: str | None, **extra: str) -> dict[str, str]:
    """The test's environment, with the Prefect API when given (commands that refuse bad input
    before any flow starts need none); a failpoint is only there when asked for."""
    env = {**os.environ, "COLUMNS": "200", **({"PREFECT_API_URL": api_url} if api_url else {})}
    env.pop("TEACHABLE_FAILPOINTS", None)
    return {**env, **extra}


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli", *args]


def run_cli(api_url: str | None, *args: str, cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, env=cli_env(api_url, **env),
                          cwd=cwd, timeout=timeout)


def start_cli(api_url: str | None, *args: str, cwd: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(cli_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(api_url, **env), cwd=cwd)
