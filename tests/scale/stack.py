"""A live Airflow 3 LocalExecutor deployment on this machine, one process per component.

Scheduler, dag-processor and api-server, each a subprocess in its own session with its
output in ``<home>/logs/<name>.log``, on a SQLite metadata DB (in Airflow 3 task processes
reach the metadata only through the api-server's execution API, so the writers are the
three components). The Seller Center sandboxes are not part of it: the test serves them
from its own process and hands the connections in as ``AIRFLOW_CONN_<ID>`` variables.

Every process is stopped by its process id (SIGTERM, a bounded wait, then SIGKILL to its
process group), whatever happened (tests/live_stack.py, shared with tests/distributed).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..live_processes import cpu_seconds, migrate_db, wait_for
from ..live_stack import AIRFLOW, POOL, LiveStack

PRODUCER = "cancel_short_stock_items"
CONSUMER = "seller_center_cancellations_consumer"

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


class Stack(LiveStack):
    """Start with ``start()``, always ``stop()``; ``tails()`` for a failure report."""

    def __init__(
        self,
        home: Path,
        *,
        pool_slots: int,
        parallelism: int,
        connections: dict[str, str],
        short_stock_settings: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(home)
        # The deployment's short-stock settings ([seller_center] short_stock_settings).
        self.short_stock_settings = short_stock_settings or {}
        self.db_path = home / "airflow.db"
        self.pool_slots = pool_slots
        self.parallelism = parallelism
        self.connections = connections  # conn_id -> AIRFLOW_CONN_ JSON

    # -- processes ---------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        conns = {f"AIRFLOW_CONN_{cid.upper()}": value for cid, value in self.connections.items()}
        return {
            **self.airflow_env(),
            **conns,
            "AIRFLOW__SELLER_CENTER__SHORT_STOCK_SETTINGS": json.dumps(self.short_stock_settings),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # More executor slots than pool slots: the pool, not the executor, is the cap.
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(16, self.parallelism)),
            # SQLite: one file, nothing to install or start; timeout: wait for the writer lock.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}?timeout=30",
            # Quick for a test: the DAG folder listed, the scheduler looping, tasks
            # heartbeating and runs' states checked every second or so.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        }

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
        wait_for("all components healthy", self.api_healthy, 180)
        self.timings["healthy_s"] = time.monotonic() - started
        self.token = self._login()
        self.api(
            "POST",
            "/pools",
            json={"name": POOL, "slots": self.pool_slots, "description": "Seller Center API"},
        )

    # -- CPU and the metadata DB -------------------------------------------------------
    def cpu_seconds(self) -> float:
        return cpu_seconds(self.airflow_pids())

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
