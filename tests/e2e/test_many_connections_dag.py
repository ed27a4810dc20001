"""One run of the example DAG serving several connections (``seller_center_conn_ids``):
each connection's short items canceled exactly once, a broken connection failing alone."""

from __future__ import annotations

import json

import pytest

from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import expected_short, newly_canceled, run_dag, save_log, summary_from_log

pytestmark = pytest.mark.slow


def test_each_connection_on_its_own_and_a_broken_one_fails_alone(airflow_db):
    # Seller Center's own stock, below zero where oversold ("show": the default clamps).
    with (
        run_sandbox(seed=3, orders=60, negative_stock="show") as chile,
        run_sandbox(seed=11, orders=60, negative_stock="show") as colombia,
    ):
        before = {"sc_cl": chile.state(), "sc_co": colombia.state()}
        predicted = {
            "sc_cl": expected_short(before["sc_cl"], chile.user_id),
            "sc_co": expected_short(before["sc_co"], colombia.user_id),
        }
        assert all(predicted.values()), "both seeds must oversell some SKUs"
        broken = json.loads(colombia.airflow_conn_json())
        broken["password"] = "not-the-key"
        code, log = run_dag(
            chile.airflow_conn_json(),
            settings={
                "seller_center_conn_ids": ["sc_cl", "sc_broken", "sc_co"],
                "require_approval": "never",
            },
            connections={
                "sc_cl": chile.airflow_conn_json({"rate_limit": 30}),
                "sc_co": colombia.airflow_conn_json({"rate_limit": 30}),
                "sc_broken": json.dumps(broken),
            },
        )
        assert code != 0, "a broken connection must fail the run, at its end"
        save_log(log, "many-connections")
        for conn_id, sandbox in (("sc_cl", chile), ("sc_co", colombia)):
            after = sandbox.state()
            assert newly_canceled(before[conn_id], after) == predicted[conn_id], conn_id
            counts = sandbox.cancellation_counts()
            assert {i: counts.get(i) for i in predicted[conn_id]} == dict.fromkeys(
                predicted[conn_id], 1
            )
        assert "1 of 3 connection(s) did not complete" in log
        assert "connection 'sc_broken': the find step failed" in log
        summary = summary_from_log(log)
        total = len(predicted["sc_cl"]) + len(predicted["sc_co"])
        assert summary["canceled"] == summary["short"] == total
        assert "Summary sc_cl: pending=" in log and f"canceled={len(predicted['sc_cl'])}" in log
