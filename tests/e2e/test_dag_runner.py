"""The warm ``dags test`` runner (tests/e2e/dag_runner.py) behaves as a fresh process would:
each run sees only its own connections, writes only its own log, and reports its own exit
code; and a run gives the same summary warm and cold."""

from __future__ import annotations

import json

import pytest

from airflow_seller_provider.sandbox.testing import run_sandbox

from . import helpers
from .helpers import COLD_RUNS, expected_short, run_dag, save_log, summary_from_log

pytestmark = pytest.mark.slow


def test_each_warm_run_has_its_own_connections_log_and_exit_code(airflow_db):
    with run_sandbox(seed=4, orders=20) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        good = sandbox.airflow_conn_json()
        dry = {"dry_run": True}
        extra = {"seller_center_conn_ids": ["sc_extra"]}  # the deployment's, per run
        code, first = run_dag(good, dry, connections={"sc_extra": good}, settings=extra)
        assert code == 0, save_log(first, "warm-first")
        assert helpers._warm is not None and helpers._warm.alive(), "not run warm"
        assert first.count("[DAG TEST] starting task_id=short_stock.summarize") == 1
        assert summary_from_log(first)["would_cancel"] == len(predicted)

        # The same request without sc_extra: the earlier run's connection must be gone.
        sandbox.clear_requests_log()
        code, second = run_dag(good, dry, settings=extra)
        assert code != 0, save_log(second, "warm-second")
        assert "'sc_extra' is not defined" in second and sandbox.requests_log() == []
        assert second.count("[DAG TEST] starting task_id=short_stock.summarize") == 1

        # A wrong key after a right one: nothing of the first connection is reused.
        broken = json.loads(good)
        broken["password"] = "not-the-key"
        code, third = run_dag(json.dumps(broken), {"dry_run": True})
        assert code != 0 and "DagRun failed" in third, save_log(third, "warm-third")
        assert sandbox.state() == before


def test_a_run_reports_the_same_warm_and_cold(airflow_db, monkeypatch):
    # "show": Seller Center's figures below zero give the summaries something to compare
    with run_sandbox(seed=5, orders=120, negative_stock="show") as sandbox:
        conf = {"dry_run": True}
        code, warm = run_dag(sandbox.airflow_conn_json(), conf)
        assert code == 0, save_log(warm, "warm-run")
        monkeypatch.setenv(COLD_RUNS, "1")
        code, cold = run_dag(sandbox.airflow_conn_json(), conf)
        assert code == 0, save_log(cold, "cold-run")
        assert summary_from_log(warm) == summary_from_log(cold)
        assert summary_from_log(warm)["would_cancel"] == len(
            expected_short(sandbox.state(), sandbox.user_id)
        )
