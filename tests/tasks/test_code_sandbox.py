"""The code sandbox: pass, fail, timeout kill, memory limit, no network, temp dir cleaned."""

from __future__ import annotations

import socket
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from tasks.verify import Verdict, network_isolation, run_code_tests, verify_answer
from tasks.verify import code as sandbox

PROGRAM = "def add(a, b):\n    return a + b\n"
CHECK = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"


def test_passing_and_failing_programs():
    assert run_code_tests(PROGRAM, "assert add(2, 3) == 5") == Verdict(True, PROGRAM, "code")
    wrong = "def add(a, b):\n    return a - b\n"
    assert run_code_tests(wrong, "assert add(2, 3) == 5").reason == "failed: AssertionError"
    syntax = run_code_tests("def add(a, b) return", "assert add(1, 1) == 2")
    assert syntax.reason.startswith("failed: SyntaxError")
    assert run_code_tests("import sys\nsys.exit(3)", "pass").reason == "failed: exit code 3"


def test_check_function_needs_its_entry_point():
    assert run_code_tests(PROGRAM, CHECK, "add").correct
    assert not run_code_tests("def add(a, b):\n    return 5\n", CHECK, "add").correct
    verdict = run_code_tests(PROGRAM, CHECK)  # check() never called would pass vacuously
    assert not verdict.correct and "entry_point" in verdict.reason
    assert run_code_tests(PROGRAM, CHECK, "add; import os").reason.startswith("error: bad entry point")


def test_nothing_to_run():
    assert run_code_tests("", "assert True").reason == "no_answer"
    assert run_code_tests(PROGRAM, "  ").reason == "error: no tests"


def test_infinite_loop_is_killed_on_time():
    start = time.monotonic()
    assert run_code_tests("while True:\n    pass\n", "pass", timeout_s=1).reason == "timeout"
    assert time.monotonic() - start < 6


@pytest.fixture(params=["as_available", "socket_guard_only"])
def isolation(request, monkeypatch):
    """Run a test with this host's isolation and as on a host where `unshare` is refused."""
    if request.param == "socket_guard_only":
        monkeypatch.setattr(sandbox, "_isolation", ())
    return request.param


def test_timeout_kills_the_whole_process_group(isolation):
    token = uuid.uuid4().hex
    program = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)  # {token}'])\n"
        "time.sleep(120)\n"
    )
    assert run_code_tests(program, "pass", timeout_s=1.5).reason == "timeout"
    time.sleep(0.3)
    processes = psutil.process_iter(["cmdline"])
    leftovers = [p.pid for p in processes if token in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []


def test_memory_limit():
    verdict = run_code_tests("block = bytearray(600 * 1024 * 1024)\n", "pass", memory_mb=256)
    assert verdict.reason == "memory_limit"
    assert run_code_tests("block = bytearray(20 * 1024 * 1024)\n", "pass", memory_mb=256).correct


def test_no_network_from_the_program(isolation):
    with socket.socket() as server:  # a live port on this host's loopback
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        program = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
        verdict = run_code_tests(program, "pass", timeout_s=10)
        assert not verdict.correct and "network access is disabled" in verdict.reason
        raw = f"import _socket\ns = _socket.socket()\ns.connect(('127.0.0.1', {port}))\n"
        assert not run_code_tests(raw, "pass", timeout_s=10).correct
    dns = "import socket\nsocket.getaddrinfo('example.com', 80)\n"
    assert "network access is disabled" in run_code_tests(dns, "pass").reason
    local = "import socket\na, b = socket.socketpair()\na.sendall(b'x')\nassert b.recv(1) == b'x'\n"
    assert run_code_tests(local, "pass").correct  # AF_UNIX pairs (asyncio, multiprocessing) still work


def test_no_network_even_for_unguarded_child_processes():
    if network_isolation() != "netns":
        pytest.skip("no network namespace here: only the in-process socket guard applies")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        child = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)"
        program = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {child!r}], check=True)\n"
        verdict = run_code_tests(program, "pass", timeout_s=10)
        assert not verdict.correct and "CalledProcessError" in verdict.reason


def test_temp_dir_is_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    program = "import os\nopen('left.txt', 'w').write('x')\nos.makedirs('sub/dir')\n"
    assert run_code_tests(program, "assert os.path.exists('left.txt')").correct
    assert run_code_tests("while True: pass", "pass", timeout_s=0.5).reason == "timeout"
    assert list(tmp_path.iterdir()) == []


def test_output_flood_is_capped():
    verdict = run_code_tests("while True:\n    print('x' * 10000)\n", "pass", timeout_s=5)
    assert verdict.reason in ("output_limit", "timeout")


def test_verify_answer_code_and_threads():
    response = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```"
    assert verify_answer(response, "assert add(1, 2) == 3", "code").correct
    assert not verify_answer(response, "assert add(1, 2) == 4", "code").correct
    with ThreadPoolExecutor(4) as pool:
        tests = [f"assert add({n}, 1) == {n + 1}" for n in range(8)]
        verdicts = list(pool.map(lambda test: run_code_tests(PROGRAM, test), tests))
    assert all(v.correct for v in verdicts)


def _running_in(folder: str) -> list[int]:
    pids = []
    for process in psutil.process_iter():
        try:
            if process.cwd().startswith(folder):
                pids.append(process.pid)
        except (psutil.Error, OSError):
            continue
    return pids


def test_fork_bomb_is_stopped_with_its_reason_and_the_host_keeps_its_pids(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the sandbox's scratch dir: its processes' cwd
    start = time.monotonic()
    verdict = run_code_tests("import os\nwhile True:\n    os.fork()\n", "pass", timeout_s=10)
    assert verdict.reason == "process_limit"
    assert time.monotonic() - start < 10  # stopped by the spawn budget, not by the wall clock
    time.sleep(0.3)
    assert _running_in(str(tmp_path)) == []  # nothing left running
    spawned = "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'pass'], check=True)\n"
    assert run_code_tests(spawned, "pass").correct  # a few child processes stay allowed


@pytest.mark.parametrize("program, reason", [
    ("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=2)\n", "network access is disabled"),
    ("import os\nwhile True:\n    os.fork()\n", "process_limit"),
    ("block = bytearray(900 * 1024 * 1024)\n", "memory_limit"),
    ("while True:\n    pass\n", "timeout"),
])
def test_each_limit_is_recorded_and_the_worker_survives(program, reason):
    from tasks.verify import parse_code_tests, run_program

    spec = parse_code_tests({"input_output": {"inputs": ["1 2\n"], "outputs": ["3\n"]}})
    verdict = run_program(program, spec, timeout_s=2, memory_mb=256)
    assert not verdict.correct and reason in verdict.reason
    good = run_program("a, b = map(int, input().split())\nprint(a + b)\n", spec, timeout_s=5)
    assert good.correct  # the same worker process checks the next sample


def test_parallel_workers_each_get_their_own_scratch_dir():
    program = "import os\nassert not os.path.exists('mine.txt')\nopen('mine.txt', 'w').write('x')\n"
    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(lambda _: run_code_tests(program, "pass"), range(8)))
    assert all(v.correct for v in verdicts)
