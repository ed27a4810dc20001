"""A real Airflow 3 CeleryExecutor deployment on this machine, one process per component.

PostgreSQL (its own cluster: the metadata DB, Celery's results, and a separate warehouse
DB), Redis (the Celery broker), the Seller Center sandbox (its state in a file), and
Airflow's two schedulers, dag-processor, api-server and one Celery worker, each a
subprocess in its own session with its output in ``<home>/logs/<name>.log``. Every process
is stopped by its process id (SIGTERM, a bounded wait, then SIGKILL to its process group),
whatever happened; the PostgreSQL cluster with ``pg_ctl stop``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..live_processes import descendants, free_port, memory_of, migrate_db, wait_for
from ..live_stack import AIRFLOW, POOL, LiveStack
from .postgres import Postgres

WAREHOUSE_SETTINGS = {
    "stock_source": "sql",
    "stock_conn_id": "warehouse",
    "stock_sql": "SELECT sku, units, business_unit FROM stock",
    "stock_counts": "on_hand",
    "ledger_conn_id": "ledger",
}
"""The deployment's short-stock settings ([seller_center] short_stock_settings): the
warehouse database below is the stock source, and holds the ledger (its own role, which
may create the table)."""
LEDGER_TABLE = "seller_center_ledger"


class Stack(LiveStack):
    """Start with ``start()``, always ``stop()``; ``tails()`` for a failure report."""

    def __init__(
        self,
        home: Path,
        *,
        worker_concurrency: int,
        pool_slots: int,
        sandbox_args: list[str],
        user_id: str,
        api_key: str,
        connection_extra: dict[str, Any],
        schedulers: int = 2,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(home)
        self.worker_concurrency = worker_concurrency
        self.pool_slots = pool_slots
        self.sandbox_args = sandbox_args
        self.user_id = user_id
        self.api_key = api_key
        self.connection_extra = connection_extra
        self.schedulers = schedulers
        self.initial_state: dict[str, Any] = {}  # the sandbox's, kept by a test to reset it
        self.extra_env = extra_env or {}
        # Processes the test ended on purpose (crash scenarios): still reaped in stop().
        self.retired: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._generation: dict[str, int] = {}
        self.redis_port = free_port()
        self.sandbox_port = free_port()  # fixed: a restarted sandbox comes back on it
        self.sandbox_state = home / "sandbox-state.json"
        self.pg = Postgres(free_port(), self.logs)
        self.db_password = secrets.token_urlsafe(16)
        self.warehouse_password = secrets.token_urlsafe(16)
        self.sandbox_url = ""
        self.started = 0.0  # when the Airflow components were started (monotonic)
        self.memory: dict[str, dict[str, float]] = {}

    # -- processes ---------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        redis = f"redis://127.0.0.1:{self.redis_port}"
        return {
            **self.airflow_env(),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url("postgresql+psycopg2"),
            "AIRFLOW__CELERY__BROKER_URL": f"{redis}/0",
            # Airflow's advice: Celery's results in a database (here the metadata DB's).
            "AIRFLOW__CELERY__RESULT_BACKEND": self.metadata_url("db+postgresql+psycopg2"),
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "3600",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            # Runs only when triggered: no scheduled run races the one under test.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW_CONN_SELLER_CENTER_DEFAULT": self.conn_json(),
            # The deployment's short-stock settings: stock from the warehouse (author
            # settings, which no run's conf may change).
            "AIRFLOW__SELLER_CENTER__SHORT_STOCK_SETTINGS": json.dumps(WAREHOUSE_SETTINGS),
            # The warehouse the example DAG reads stock from (stock_source sql), read-only.
            "AIRFLOW_CONN_LEDGER": json.dumps(
                {
                    "conn_type": "postgres",
                    "host": "127.0.0.1",
                    "port": self.pg.port,
                    "login": "ledger_writer",
                    "password": self.warehouse_password + "L",
                    "schema": "warehouse",
                }
            ),
            "AIRFLOW_CONN_WAREHOUSE": json.dumps(
                {
                    "conn_type": "postgres",
                    "host": "127.0.0.1",
                    "port": self.pg.port,
                    "login": "warehouse_reader",
                    "password": self.warehouse_password,
                    "schema": "warehouse",
                }
            ),
            **self.extra_env,
        }

    def metadata_url(self, scheme: str) -> str:
        return f"{scheme}://airflow:{self.db_password}@127.0.0.1:{self.pg.port}/airflow"

    def conn_json(self) -> str:
        return json.dumps(
            {
                "conn_type": "seller_center",
                "host": self.sandbox_url,
                "login": self.user_id,
                "password": self.api_key,
                "extra": self.connection_extra,
            }
        )

    one_shot = frozenset({"pools"})

    def kill(self, name: str) -> int:
        """SIGKILL a component and every process below it (its process group, and any
        descendant that left it): a crash, no clean-up runs. It stays listed for stop().
        Returns its pid."""
        proc = self.procs.pop(name)
        below = descendants([proc.pid])
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in below:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
        self.retired.append((name, proc))
        return proc.pid

    def terminate(self, name: str, timeout: float = 30) -> int:
        """SIGTERM a component and wait for its exit (a clean stop); returns its exit code."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait(timeout=10)
        self.retired.append((name, proc))
        return code

    def _log_name(self, name: str) -> str:
        """``name`` for the first process of that name, ``name.2``... for its successors."""
        self._generation[name] = self._generation.get(name, 0) + 1
        return self._log_file(name, self._generation[name])

    @staticmethod
    def _log_file(name: str, n: int) -> str:
        return name if n == 1 else f"{name}.{n}"

    def log(self, name: str) -> str:
        """The log of the component's current process (``db-migrate`` etc.: that file)."""
        file = self._log_file(name, self._generation.get(name, 1))
        path = self.logs / f"{file}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs_of(self, name: str) -> str:
        """Every log of a component, its predecessors' included, in order."""
        return "".join(
            (self.logs / f"{self._log_file(name, n)}.log").read_text(errors="replace")
            for n in range(1, self._generation.get(name, 0) + 1)
            if (self.logs / f"{self._log_file(name, n)}.log").exists()
        )

    def tails(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            (self.logs / "postgres.log").write_text(self.pg.logfile.read_text(errors="replace"))
        return super().tails(lines)

    def _to_stop(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        return [*self.retired, *reversed(list(self.procs.items()))]

    def stop(self) -> list[str]:
        """Stop every process, those the test ended included, then PostgreSQL."""
        killed = super().stop()
        if self.pg.stop():
            killed.append("postgres")
        return killed

    # -- start-up ----------------------------------------------------------------------
    def start_redis(self) -> None:
        # Nothing saved to disk: a restarted broker has lost its queue (the worst case).
        self.spawn(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.home)],
        )  # fmt: skip
        wait_for("redis answers PING", self._redis_ping, 20, every=0.1)

    def start_sandbox(self) -> None:
        """On its fixed port, from its state file when there is one (saved on SIGTERM)."""
        self.spawn(
            "sandbox",
            [sys.executable, "-m", "airflow_seller_provider.sandbox", "--host", "127.0.0.1",
             "--port", str(self.sandbox_port), "--user-id", self.user_id, "--api-key",
             self.api_key, "--state", str(self.sandbox_state), *self.sandbox_args],
        )  # fmt: skip
        self.sandbox_url = wait_for("the sandbox's address", self._sandbox_address, 30, every=0.1)

    def start_scheduler(self, n: int) -> None:
        self.spawn(f"scheduler-{n}", [AIRFLOW, "scheduler", "--skip-serve-logs"])

    def start_worker(self) -> None:
        self.spawn(
            "celery-worker",
            [AIRFLOW, "celery", "worker", "--concurrency", str(self.worker_concurrency),
             "--skip-serve-logs"],
        )  # fmt: skip

    def restore(self) -> list[str]:
        """Start again whatever a scenario stopped or killed and did not bring back (so that
        one failed scenario does not break the next); returns what it started."""
        started = []
        if "redis" not in self.procs:
            self.start_redis()
            started.append("redis")
        if "sandbox" not in self.procs:
            self.start_sandbox()
            started.append("sandbox")
        for n in range(1, self.schedulers + 1):
            if f"scheduler-{n}" not in self.procs:
                self.start_scheduler(n)
                started.append(f"scheduler-{n}")
        if "celery-worker" not in self.procs:
            self.start_worker()
            started.append("celery-worker")
        self.check_alive()
        wait_for("the Celery worker ready", self.worker_ready, 120)
        return started

    def worker_ready(self) -> bool:
        self.check_alive()
        return re.search(r"celery@\S+ ready\.", self.log("celery-worker")) is not None

    def start_postgres(self) -> None:
        """The cluster; the metadata DB ``airflow`` (owned by the role Airflow logs in with)
        and the warehouse DB ``warehouse`` (a ``stock`` table the DAG's role may only read)."""
        self.pg.start()
        self.pg.execute(
            "postgres",
            f"CREATE ROLE airflow LOGIN PASSWORD '{self.db_password}'",
            "CREATE DATABASE airflow OWNER airflow",
            f"CREATE ROLE warehouse_reader LOGIN PASSWORD '{self.warehouse_password}'",
            f"CREATE ROLE ledger_writer LOGIN PASSWORD '{self.warehouse_password}L'",
            "CREATE DATABASE warehouse",
        )
        self.pg.execute(
            "warehouse",
            "CREATE TABLE stock (sku text NOT NULL, business_unit text NOT NULL, "
            "units integer NOT NULL, PRIMARY KEY (sku, business_unit))",
            "GRANT SELECT ON stock TO warehouse_reader",
            "GRANT USAGE, CREATE ON SCHEMA public TO ledger_writer",
        )

    def ledger_rows(self) -> list[dict[str, Any]]:
        """The ledger's cancel rows (empty before the first run creates the table)."""
        if not self.ledger_exists():
            return []
        rows = self.pg.execute(
            "warehouse",
            "SELECT run_id, order_item_id, outcome, error_code, detail, approval FROM "
            f"{LEDGER_TABLE} WHERE kind = 'cancel'",
        )
        names = ("run_id", "order_item_id", "outcome", "error_code", "detail", "approval")
        return [{**dict(zip(names, r, strict=True)), "order_item_id": int(r[1])} for r in rows]

    def ledger_exists(self) -> bool:
        found = self.pg.execute("warehouse", f"SELECT to_regclass('public.{LEDGER_TABLE}')")
        return bool(found and found[0][0])

    def clear_ledger(self) -> None:
        """A scenario's books start empty (the sandbox's state starts afresh too)."""
        if self.ledger_exists():
            self.pg.execute("warehouse", f"DELETE FROM {LEDGER_TABLE}")

    def set_warehouse_stock(self, rows: list[tuple[str, str, int]]) -> None:
        """Replace the warehouse's figures: (sku, business_unit, units on hand)."""
        import psycopg2

        conn = psycopg2.connect(self.pg.url("warehouse"), connect_timeout=10)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("DELETE FROM stock")
                cur.executemany(
                    "INSERT INTO stock (sku, business_unit, units) VALUES (%s, %s, %s)", rows
                )
        finally:
            conn.close()

    def scheduler_jobs(self) -> list[dict[str, Any]]:
        """Airflow's scheduler jobs from the metadata DB, with the seconds since each one's
        last heartbeat (by the database's clock)."""
        rows = self.pg.execute(
            "airflow",
            "SELECT id, state, EXTRACT(EPOCH FROM now() - latest_heartbeat) FROM job "
            "WHERE job_type = 'SchedulerJob' ORDER BY id",
        )
        return [{"id": r[0], "state": r[1], "heartbeat_age_s": float(r[2])} for r in rows]

    def queued_by(self, run_id: str, states: tuple[str, ...] | None = None) -> dict[int, int]:
        """Scheduler job id -> how many of the run's task instances (in ``states``, default
        any) it queued (their last try), from the metadata DB."""
        rows = self.pg.execute(
            "airflow",
            "SELECT queued_by_job_id, count(*) FROM task_instance WHERE run_id = %s "
            "AND (%s OR state = ANY(%s)) GROUP BY queued_by_job_id",
            params=(run_id, states is None, list(states or ())),
        )
        return {r[0]: r[1] for r in rows if r[0] is not None}

    def scheduler_job_ids(self) -> dict[str, list[int]]:
        """Scheduler process name -> the job ids its logs name (when it queued tasks)."""
        names = sorted({n for n in self._generation if n.startswith("scheduler-")})
        return {
            name: sorted(
                {int(m) for m in re.findall(r"scheduler job_id=(\d+)", self.logs_of(name))}
            )
            for name in names
        }

    def start(self) -> None:
        started = time.monotonic()
        self.start_postgres()
        self.timings["postgres_s"] = time.monotonic() - started
        self.start_redis()
        self.start_sandbox()

        (self.home / "passwords.json").write_text(json.dumps({"admin": self.password}))
        self.timings["db_migrate_s"] = migrate_db(
            AIRFLOW, self.env(), self.home, self.logs / "db-migrate.log"
        )

        self.started = started = time.monotonic()
        for n in range(1, self.schedulers + 1):
            self.start_scheduler(n)
        self.spawn("dag-processor", [AIRFLOW, "dag-processor"])
        self.spawn(
            "api-server",
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port),
             "--workers", "1"],
        )  # fmt: skip
        self.start_worker()
        self.spawn(
            "pools",
            [AIRFLOW, "pools", "set", POOL, str(self.pool_slots), "Seller Center API budget"],
        )
        self._start_sampler()

        wait_for("all components healthy", self._healthy, 180)
        self.timings["healthy_s"] = time.monotonic() - started
        self.memory["healthy"] = self.stack_memory()
        self.memory["healthy_by_component"] = {
            name: memory_of([proc.pid])["pss_mib"]
            for name, proc in self.procs.items()
            if proc.pid in self.airflow_pids()
        }
        if self.pg.postmaster_pid is not None:
            self.memory["healthy_by_component"]["postgres"] = memory_of([self.pg.postmaster_pid])[
                "pss_mib"
            ]
        if self.procs["pools"].wait(timeout=60) != 0:
            raise RuntimeError("airflow pools set failed")
        self.token = self._login()

    def _redis_ping(self) -> bool:
        self.check_alive()
        with socket.create_connection(("127.0.0.1", self.redis_port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")

    def _sandbox_address(self) -> str | None:
        self.check_alive()
        match = re.search(r"listening on (http://\S+/)", self.log("sandbox"))
        return match.group(1) if match else None

    def _healthy(self) -> bool:
        """The api-server's health check, and the Celery worker ready to take tasks (its log
        says so)."""
        return self.api_healthy() and self.worker_ready()

    # -- memory --------------------------------------------------------------------------
    def airflow_pids(self) -> list[int]:
        """The deployment itself: everything but the sandbox (the 'remote' API)."""
        pids = [p.pid for n, p in self.procs.items() if n not in ("sandbox", "pools")]
        return pids + ([self.pg.postmaster_pid] if self.pg.postmaster_pid else [])

    # -- the sandbox -------------------------------------------------------------------
    def sandbox_post(self, path: str, payload: Any) -> Any:
        answer = self.http.post(f"{self.sandbox_url}_sandbox/{path}", json=payload, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def sandbox(self, path: str) -> Any:
        answer = self.http.get(f"{self.sandbox_url}_sandbox/{path}", timeout=30)
        answer.raise_for_status()
        return answer.json()
