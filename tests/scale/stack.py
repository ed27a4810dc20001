"""A live Airflow 3 LocalExecutor deployment on this machine, one process per component.

Scheduler, dag-processor and api-server, each a subprocess in its own session with its
output in ``<home>/logs/<name>.log``, on a SQLite metadata DB (in Airflow 3 task processes
reach the metadata only through the api-server's execution API, so the writers are the
three components). The Seller Center sandboxes are not part of it: the test serves them
from its own process and hands the connections in as ``AIRFLOW_CONN_<ID>`` variables.

Every process is stopped by its process id (SIGTERM, a bounded wait, then SIGKILL to its
process group), whatever happened. Patterns from tests/distributed/stack.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import requests

from ..live_processes import cpu_seconds, free_port, memory_of, migrate_db, wait_for

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
POOL = "seller_center"
PRODUCER = "cancel_short_stock_items"
CONSUMER = "seller_center_cancellations_consumer"
T = TypeVar("T")

# The deployment's cluster policy: the producer's 30-minute schedule off, so that the only
# runs are the ones the test triggers. (The scheduler's job schedule itself must stay on:
# asset-triggered runs, the consumer's, are created in the same step.)
LOCAL_SETTINGS = f'''
"""Test deployment only: {PRODUCER} runs when triggered, never on its timetable."""


def dag_policy(dag):
    if dag.dag_id == "{PRODUCER}":
        from airflow.sdk.definitions.timetables.simple import NullTimetable

        dag.timetable = NullTimetable()
'''


class Stack:
    """Start with ``start()``, always ``stop()``; ``tails()`` for a failure report."""

    def __init__(
        self, home: Path, *, pool_slots: int, parallelism: int, connections: dict[str, str]
    ) -> None:
        self.home = home
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.db_path = home / "airflow.db"
        self.pool_slots = pool_slots
        self.parallelism = parallelism
        self.connections = connections  # conn_id -> AIRFLOW_CONN_ JSON
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.password = secrets.token_urlsafe(16)
        # Shared by every component: tokens signed by one are checked by the others.
        self._fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        self._secret = secrets.token_urlsafe(64)
        self._jwt_secret = secrets.token_urlsafe(64)
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only, never through a proxy
        self.token = ""
        self.timings: dict[str, float] = {}
        self._peak: dict[str, float] = {}
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    # -- processes ---------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AIRFLOW") and k != "PYTEST_CURRENT_TEST"
        }
        conns = {f"AIRFLOW_CONN_{cid.upper()}": value for cid, value in self.connections.items()}
        return {
            **base,
            **conns,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # More executor slots than pool slots: the pool, not the executor, is the cap.
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(16, self.parallelism)),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__FERNET_KEY": self._fernet_key,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            # SQLite: one file, nothing to install or start; timeout: wait for the writer lock.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}?timeout=30",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": f"{self.api_url}/",
            "AIRFLOW__API__SECRET_KEY": self._secret,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
            # Quick for a test: the DAG folder listed, the scheduler looping, tasks
            # heartbeating and runs' states checked every second or so.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }

    def spawn(self, name: str, cmd: list[str]) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.home,
                start_new_session=True,  # its own process group, to reap its children
            )

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is not None:
                raise RuntimeError(f"{name} (pid {proc.pid}) exited with {code}")

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tails(self, lines: int = 40) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()
            parts.append(f"----- {path.name} (last {lines} lines) -----")
            parts.extend(text[-lines:])
        return "\n".join(parts)

    def stop(self) -> list[str]:
        """Stop every process this stack started, newest first; return what needed a kill."""
        self._sampling.set()
        killed = []
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    killed.append(name)
                    proc.kill()
                    proc.wait(timeout=10)
            # Whatever it left behind in its own process group (executor workers, tasks...).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        self.http.close()
        return killed

    # -- start-up ----------------------------------------------------------------------
    def start(self) -> None:
        (self.home / "passwords.json").write_text(json.dumps({"admin": self.password}))
        (self.home / "config").mkdir(exist_ok=True)
        (self.home / "config" / "airflow_local_settings.py").write_text(LOCAL_SETTINGS)
        self.timings["db_migrate_s"] = migrate_db(
            AIRFLOW, self.env(), self.home, self.logs / "db-migrate.log"
        )

        started = time.monotonic()
        self.spawn(
            "api-server",
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port),
             "--workers", "1"],
        )  # fmt: skip
        self.spawn("scheduler", [AIRFLOW, "scheduler", "--skip-serve-logs"])
        self.spawn("dag-processor", [AIRFLOW, "dag-processor"])
        self._start_sampler()
        wait_for("all components healthy", self._healthy, 180)
        self.timings["healthy_s"] = time.monotonic() - started
        self.token = self._login()
        self.api(
            "POST",
            "/pools",
            json={"name": POOL, "slots": self.pool_slots, "description": "Seller Center API"},
        )

    def _healthy(self) -> bool:
        """Metadata DB, scheduler and dag-processor healthy (the API's own health check)."""
        self.check_alive()
        health = self.http.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
        parts = ("metadatabase", "scheduler", "dag_processor")
        return all((health.get(p) or {}).get("status") == "healthy" for p in parts)

    def _login(self) -> str:
        answer = self.http.post(
            f"{self.api_url}/auth/token",
            json={"username": "admin", "password": self.password},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    # -- memory --------------------------------------------------------------------------
    def airflow_pids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]

    def _start_sampler(self) -> None:
        def sample() -> None:
            while not self._sampling.wait(1.0):
                now = memory_of(self.airflow_pids())
                if now["pss_mib"] > self._peak.get("pss_mib", 0):
                    self._peak = now

        self._sampler = threading.Thread(target=sample, name="memory-sampler", daemon=True)
        self._sampler.start()

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.airflow_pids())

    def peak_memory(self) -> dict[str, float]:
        return dict(self._peak)

    # -- REST API and metadata DB --------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            answer = self.http.request(
                method,
                f"{self.api_url}/api/v2{path}",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30,
                **kwargs,
            )
            if answer.status_code == 401 and attempt == 1:
                self.token = self._login()  # the token expired in a long run
                continue
            break
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        """The metadata DB, read-only, for what the API does not show (every try's times)."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    def task_tries(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every try of every task instance of a run (task_instance and its history)."""
        columns = "task_id, map_index, try_number, state, pool, start_date, end_date"
        query = (
            f"SELECT {columns} FROM task_instance WHERE dag_id = ? AND run_id = ? "
            f"UNION ALL SELECT {columns} FROM task_instance_history "
            f"WHERE dag_id = ? AND run_id = ?"
        )
        with self.db() as conn:
            rows = conn.execute(query, (dag_id, run_id, dag_id, run_id)).fetchall()
        return [dict(row) for row in rows]
