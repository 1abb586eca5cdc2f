"""Test utility: a real, throwaway PostgreSQL server on 127.0.0.1 (Debian `postgresql` binaries).

`with PostgresServer() as pg:` runs initdb into a temporary directory, starts the server on a
free loopback port with its unix socket in that directory, creates a role and a database, and
on exit stops it (`pg_ctl stop -m fast`) and removes everything. PostgreSQL refuses to run as
root, so as root every server command runs as the `postgres` OS user (`runuser`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psutil

ROLE = "teachable"
DATABASE = "teachable"
PASSWORD_ROLE = "teachable_pw"  # a role that must authenticate (scram), for the PGPASSWORD path
PASSWORD = "s3cret-canary-7f2a"  # that role's password: only ever passed through PGPASSWORD


def postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin holding initdb, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def server_user() -> str | None:
    """The OS user the server runs as: `postgres` when we are root, else ourselves; None: impossible."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and there is no `postgres` OS user to run PostgreSQL as") from None
    return "postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self, bin_dir: Path | None = None, durable: bool = False):
        self.bin = bin_dir or postgres_bin()
        self.durable = durable  # False: no fsync (tests); True: PostgreSQL's defaults (timings)
        if self.bin is None:
            raise RuntimeError("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin): run `make system-deps`")
        self.user = server_user()
        self.root = Path(tempfile.mkdtemp(prefix="teachable-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.pid: int | None = None

    # --- commands ----------------------------------------------------------------------
    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return proc

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the unix socket; returns unaligned, tuples-only output."""
        return self._run("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", str(self.root),
                         "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql).stdout.strip()

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> "PostgresServer":
        if self.user:
            shutil.chown(self.root, self.user, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--locale=C",
                  "--auth-local=trust", "--auth-host=trust", "--no-sync")
        self._require_password_for(PASSWORD_ROLE)
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        self.psql(f"CREATE ROLE {ROLE} LOGIN")
        self.psql(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'")
        self.create_database(DATABASE)
        return self

    def _require_password_for(self, role: str) -> None:
        # pg_hba is first-match: this line, put first, makes that role authenticate for real.
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())

    def stop(self) -> None:
        if self.data.exists() and self.pid is not None:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def leftover_processes(self) -> list[int]:
        """Our postmaster (its command line names our directory) and its children."""
        mine = []
        for proc in psutil.process_iter(["pid", "ppid", "cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if str(self.root) in cmdline or (self.pid is not None and proc.info["ppid"] == self.pid):
                mine.append(proc.info["pid"])
        return mine

    def __enter__(self) -> "PostgresServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests connect with ---------------------------------------------------------
    def conninfo(self, database: str = DATABASE, user: str = ROLE) -> str:
        """A libpq key=value connection string over TCP loopback, without any password."""
        return f"dbname={database} host=127.0.0.1 port={self.port} user={user}"

    def create_database(self, name: str, owner: str = ROLE) -> str:
        self.psql(f"CREATE DATABASE {name} OWNER {owner}")
        return name
