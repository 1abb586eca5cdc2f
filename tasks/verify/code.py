"""Tasks layer (verify): run reference tests against a program in a sandboxed subprocess.

Contract: `run_code_tests(program, tests, entry_point=None, timeout_s=10, memory_mb=1024)`
returns a Verdict (method "code"); it never raises for what the program does. The program and
tests run as one script (`program`, then `tests`, then `check(entry_point)` when an entry point
is given) in a fresh Python (`-I`: no user site, no PYTHON* variables) inside a temporary
working directory that is deleted afterwards, with
- time: a wall-clock limit (`timeout_s`); on expiry the whole process group is SIGKILLed (and,
  with a PID namespace, everything the program started dies with it); RLIMIT_CPU as backstop;
- memory: RLIMIT_AS = `memory_mb` (allocations beyond it raise MemoryError), RLIMIT_FSIZE
  caps each file, stdout and stderr included, at 16 MiB, no core dumps;
- network: a new network namespace (`unshare --net`, loopback down) where the kernel allows
  it (root, or unprivileged user namespaces), and always a guard installed before the program
  runs that makes every non-AF_UNIX socket and DNS lookup raise PermissionError.
The limits are set by the child itself before any program code runs (not in a preexec_fn,
which is unsafe in threaded callers). This contains mistakes of model-written code; it is not
a security boundary against hostile code (same user, same filesystem).
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import tempfile
import threading

from tasks.verify.verdict import Verdict

OUTPUT_LIMIT_BYTES = 16 * 1024 * 1024
MAX_PROCESSES = 256  # RLIMIT_NPROC (per user: only a backstop)
MAX_SPAWNS = 16  # child processes one sandboxed program may start
_RUNNER_NAME = "_sandbox_runner.py"
_SCRIPT_NAME = "solution.py"
# Tried in order; the first that can start a Python here is used for every later run.
_ISOLATION_PREFIXES = (
    ("unshare", "--net", "--pid", "--fork", "--kill-child"),
    ("unshare", "--map-root-user", "--net", "--pid", "--fork", "--kill-child"),
    ("unshare", "--map-root-user", "--net"),
    ("unshare", "--net"),
)
_RUNNER = r'''
import resource, sys

def _limit(which, value):
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass

_memory, _cpu, _fsize = (int(v) for v in sys.argv[1:4])
_limit(resource.RLIMIT_AS, _memory)
_limit(resource.RLIMIT_CPU, _cpu)
_limit(resource.RLIMIT_FSIZE, _fsize)
_limit(resource.RLIMIT_CORE, 0)
_limit(resource.RLIMIT_NPROC, int(sys.argv[4]))  # backstop where not root (root ignores it)

import os, _posixsubprocess

# A process may start _SPAWNS children; a forked child may start none (a fork bomb ends after
# _SPAWNS processes instead of filling the host's pid table before the wall-clock kill).
_spawns = [int(sys.argv[5])]

def _no_process(*args, **kwargs):
    raise PermissionError(1, "process limit reached in the sandbox")

def _budgeted(function, forks=False):
    def guarded(*args, **kwargs):
        if _spawns[0] <= 0:
            _no_process()
        _spawns[0] -= 1
        result = function(*args, **kwargs)
        if forks and result == 0:
            _spawns[0] = 0
        return result
    return guarded

os.fork = _budgeted(os.fork, forks=True)
for _name in ("forkpty", "posix_spawn", "posix_spawnp", "system"):
    if hasattr(os, _name):
        setattr(os, _name, _budgeted(getattr(os, _name), forks=_name == "forkpty"))
_posixsubprocess.fork_exec = _budgeted(_posixsubprocess.fork_exec)

import _socket, socket

def _no_network(*args, **kwargs):
    raise PermissionError(1, "network access is disabled in the sandbox")

# socket.socket.__init__ calls _socket.socket.__init__ (looked up at call time), so guarding
# the C type covers both `socket.socket()` and raw `_socket.socket()`; wrapping an existing
# descriptor (fileno=..., as socketpair and accept do) stays allowed.
_CSocket = _socket.socket

class _GuardedSocket(_CSocket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family != getattr(socket, "AF_UNIX", None):
            _no_network()
        _CSocket.__init__(self, family, type, proto, fileno)

_socket.socket = _socket.SocketType = _GuardedSocket
for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "create_connection",
              "create_server", "getnameinfo"):
    setattr(socket, _name, _no_network)
    if hasattr(_socket, _name):
        setattr(_socket, _name, _no_network)

sys.argv[:] = ["solution.py"]
with open("solution.py", encoding="utf-8") as _file:
    _code = compile(_file.read(), "solution.py", "exec")
exec(_code, {"__name__": "__main__", "__file__": "solution.py", "__builtins__": __builtins__})
'''

_isolation: tuple[str, ...] | None = None
_isolation_lock = threading.Lock()


def isolation_prefix() -> tuple[str, ...]:
    """The `unshare` command line that gives a fresh network namespace here, or () if none
    works (then the in-process socket guard is the only network block). Probed once."""
    global _isolation
    with _isolation_lock:
        if _isolation is None:
            _isolation = ()
            for prefix in _ISOLATION_PREFIXES:
                try:
                    probe = subprocess.run([*prefix, sys.executable, "-I", "-c", "pass"],
                                           capture_output=True, timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    continue
                if probe.returncode == 0:
                    _isolation = prefix
                    break
        return _isolation


def network_isolation() -> str:
    """"netns" when programs run in their own network namespace, else "socket_guard"."""
    return "netns" if isolation_prefix() else "socket_guard"


def _uncalled_check(tests: str) -> bool:
    """HumanEval-style tests define check(candidate) and need an entry point to call it."""
    try:
        tree = ast.parse(tests)
    except (SyntaxError, ValueError):
        return False  # let the run report the syntax error
    defines = any(isinstance(node, ast.FunctionDef) and node.name == "check" for node in tree.body)
    calls = any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check"
        for statement in tree.body if not isinstance(statement, (ast.FunctionDef, ast.ClassDef))
        for node in ast.walk(statement)
    )
    return defines and not calls


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the program's children too, not only the leader
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: str, limit: int = 4096) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - limit))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _failure_reason(returncode: int, stderr: str) -> str:
    if "process limit reached in the sandbox" in stderr:
        return "process_limit"
    if "MemoryError" in stderr:
        return "memory_limit"
    if "File too large" in stderr:  # Python ignores SIGXFSZ: writes past RLIMIT_FSIZE fail
        return "output_limit"
    if returncode == -signal.SIGXCPU:
        return "timeout"
    if returncode < 0:
        try:
            return f"killed: {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed: signal {-returncode}"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return f"failed: {lines[-1][:300]}" if lines else f"failed: exit code {returncode}"


def run_code_tests(
    program: str,
    tests: str,
    entry_point: str | None = None,
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
) -> Verdict:
    """Run `tests` against `program` in the sandbox; correct when the script exits with 0."""
    if not isinstance(program, str) or not program.strip():
        return Verdict(False, None, "code", "no_answer")
    if not isinstance(tests, str) or not tests.strip():
        return Verdict(False, program, "code", "error: no tests")
    if entry_point is not None and not entry_point.isidentifier():
        return Verdict(False, program, "code", f"error: bad entry point {entry_point!r}")
    if entry_point is None and _uncalled_check(tests):
        return Verdict(False, program, "code", "error: tests define check() but no entry_point was given")
    script = f"{program}\n\n{tests}\n" + (f"\ncheck({entry_point})\n" if entry_point else "")
    reason = run_script(script, timeout_s=timeout_s, memory_mb=memory_mb)
    return Verdict(reason is None, program, "code", reason)


def run_script(script: str, *, timeout_s: float = 10.0, memory_mb: int = 1024) -> str | None:
    """Run one Python script in the sandbox: None when it exits with 0, else the reason."""
    limits = (str(int(memory_mb) * 1024 * 1024), str(int(timeout_s) + 2), str(OUTPUT_LIMIT_BYTES),
              str(MAX_PROCESSES), str(MAX_SPAWNS))
    with tempfile.TemporaryDirectory(prefix="teachable-sandbox-", ignore_cleanup_errors=True) as workdir:
        script_path = os.path.join(workdir, _SCRIPT_NAME)
        with open(script_path, "w", encoding="utf-8", errors="surrogatepass") as handle:
            handle.write(script)
        with open(os.path.join(workdir, _RUNNER_NAME), "w", encoding="utf-8") as handle:
            handle.write(_RUNNER)
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               # one BLAS thread: per-thread arenas would exhaust RLIMIT_AS on `import numpy`
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        stderr_path = os.path.join(workdir, "stderr")
        command = [*isolation_prefix(), sys.executable, "-I", "-B", _RUNNER_NAME, *limits]
        with open(os.path.join(workdir, "stdout"), "wb") as out, open(stderr_path, "wb") as err:
            try:
                proc = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err, start_new_session=True)
            except OSError as error:
                return f"error: sandbox did not start: {error}"
            try:
                returncode, timed_out = proc.wait(timeout=timeout_s), False
            except subprocess.TimeoutExpired:
                returncode, timed_out = None, True
            finally:
                _kill_group(proc.pid)
                proc.wait()
        if timed_out:
            return "timeout"
        if returncode == 0:
            return None
        return _failure_reason(returncode, _tail(stderr_path))
