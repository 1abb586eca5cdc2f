"""Bench helpers shared by the CLI benchmarks: memory of a command and the processes it started."""

from __future__ import annotations


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children, in MiB (0 once it has exited)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20
