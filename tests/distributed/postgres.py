"""A throw-away PostgreSQL cluster on 127.0.0.1 for the distributed tests.

Debian's ``postgresql`` binaries (``/usr/lib/postgresql/<version>/bin``): ``initdb`` in a
fresh temporary directory, a free loopback port, password (SCRAM) authentication only, no
Unix socket. PostgreSQL refuses to run as root, so when the test runs as root (CI) the
cluster belongs to the OS user ``postgres`` (created by Debian's package) and every
command runs through ``runuser``. ``stop()`` is ``pg_ctl stop`` (fast), then SIGKILL to the
postmaster's process id if that did not end it, and the directory is removed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

OS_USER = "postgres"  # Debian's package creates it
SUPERUSER = "postgres"


def pg_bindir() -> Path | None:
    """The newest Debian PostgreSQL's bin directory, or the one ``initdb`` on PATH is in."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(os.path.realpath(initdb)).parent if initdb else None


def _running(pid: int, wait: float = 0) -> bool:
    """Whether ``pid`` is a live process (a zombie is not), waiting up to ``wait`` s for
    it to end."""
    deadline = time.monotonic() + wait
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.1)


class Postgres:
    """``start()`` then ``stop()`` (always); ``url(db, user, password)`` for clients."""

    def __init__(self, port: int, log_dir: Path) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise RuntimeError("no PostgreSQL binaries (make test-distributed installs Debian's)")
        self.bindir = bindir
        self.port = port
        self.log_dir = log_dir
        self.password = secrets.token_urlsafe(16)
        self.as_root = os.geteuid() == 0
        # Not under pytest's tmp dir: that one is 0700 root, and the cluster's OS user must
        # own its data directory.
        self.root = Path(tempfile.mkdtemp(prefix="airflow-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.postmaster_pid: int | None = None
        if self.as_root:
            user = pwd.getpwnam(OS_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", OS_USER, "--", *args] if self.as_root else list(args)

    def _run(self, name: str, *args: str, timeout: float = 120) -> None:
        done = subprocess.run(
            self._cmd(*args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )
        (self.log_dir / f"postgres-{name}.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"{name} exited with {done.returncode}: {done.stderr[-2000:]}")

    def start(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.as_root:
            user = pwd.getpwnam(OS_USER)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        pwfile.chmod(0o600)
        self._run(
            "initdb",
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
            f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            "-c unix_socket_directories='' -c max_connections=200 -c fsync=off "
            "-c log_min_messages=warning -c log_connections=off"
        )
        self._run(
            "pg_ctl-start",
            str(self.bindir / "pg_ctl"), "start", "-D", str(self.data), "-l",
            str(self.logfile), "-o", options, "-w", "-t", "60",
        )  # fmt: skip
        pid_line = (self.data / "postmaster.pid").read_text().splitlines()[0]
        self.postmaster_pid = int(pid_line)

    def stop(self) -> bool:
        """Stop the cluster; True if it needed a SIGKILL."""
        killed = False
        if self.data.exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run(
                    "pg_ctl-stop",
                    str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast",
                    "-w", "-t", "30",
                    timeout=60,
                )  # fmt: skip
        if self.postmaster_pid is not None and _running(self.postmaster_pid, wait=5):
            killed = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.postmaster_pid, signal.SIGKILL)
            time.sleep(1)  # its backends exit when they notice the postmaster is gone
        with contextlib.suppress(OSError):
            (self.log_dir / "postgres.log").write_text(self.logfile.read_text(errors="replace"))
        shutil.rmtree(self.root, ignore_errors=True)
        return killed

    def url(self, db: str, user: str = SUPERUSER, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{user}:{secret}@127.0.0.1:{self.port}/{db}"

    def execute(self, db: str, *statements: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run statements as the superuser (autocommit); the last one's rows, if any."""
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password=self.password,
            dbname=db,
            connect_timeout=10,
        )
        try:
            conn.autocommit = True
            rows: list[tuple[Any, ...]] = []
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement, params)
                    rows = cur.fetchall() if cur.description else []
            return rows
        finally:
            conn.close()
