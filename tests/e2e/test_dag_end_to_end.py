"""The example DAG end to end: `airflow dags test` against the sandbox, in subprocesses."""

from __future__ import annotations

import json

import pytest

from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import (
    drop_declared_stock,
    expected_short,
    items_by_id,
    newly_canceled,
    run_dag,
    save_log,
    summary_from_log,
)

pytestmark = pytest.mark.slow
# Seller Center's own stock is the source here: these runs need its figures below zero, which
# the default sandbox clamps at 0 (as the official SDK expects), so they ask for "show".
SHOW = "show"


def changed_items(before: dict, after: dict) -> set[int]:
    old, new = items_by_id(before), items_by_id(after)
    return {item_id for item_id in new if new[item_id] != old[item_id]}


@pytest.mark.parametrize("seed", [3, 11])
def test_dag_cancels_exactly_the_short_items_then_nothing(airflow_db, seed):
    with run_sandbox(seed=seed, orders=150, rate_limit=40, negative_stock=SHOW) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        assert predicted, "the seeded data must oversell some SKUs"
        code, log = run_dag(sandbox.airflow_conn_json({"rate_limit": 30}))
        assert code == 0, save_log(log, f"dag-seed-{seed}")
        after = sandbox.state()
        assert newly_canceled(before, after) == predicted
        assert changed_items(before, after) == predicted  # nothing else touched
        items = items_by_id(after)
        assert {items[i]["reason"] for i in predicted} == {"SHORTAGE"}
        counts = sandbox.cancellation_counts()
        assert {i: counts.get(i) for i in predicted} == dict.fromkeys(predicted, 1)
        summary = summary_from_log(log)
        assert summary["short"] == summary["canceled"] == len(predicted)
        assert summary["failed"] == 0 and summary["already_canceled"] == 0

        code, log = run_dag(sandbox.airflow_conn_json())
        assert code == 0, save_log(log, f"dag-seed-{seed}-again")
        assert sandbox.state() == after
        summary = summary_from_log(log)
        assert summary["short"] == summary["canceled"] == 0


def test_dry_run_cancels_nothing(airflow_db):
    with run_sandbox(seed=5, orders=120, negative_stock=SHOW) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        code, log = run_dag(sandbox.airflow_conn_json(), {"dry_run": True})
        assert code == 0, save_log(log, "dag-dry-run")
        assert sandbox.state() == before
        assert not any(sandbox.cancellation_counts().values())
        summary = summary_from_log(log)
        assert summary["would_cancel"] == summary["short"] == len(predicted)
        assert summary["canceled"] == 0


def test_safety_brake_stops_before_any_cancellation(airflow_db):
    with run_sandbox(seed=5, orders=120, negative_stock=SHOW) as sandbox:
        broken = drop_declared_stock(sandbox)
        # never: fail at the brake (on_brake would ask a person on Airflow 3.1+, see
        # test_approval_dag.py).
        code, log = run_dag(sandbox.airflow_conn_json(), settings={"require_approval": "never"})
        assert code != 0
        assert "Safety brake" in log and "max_cancel_fraction" in log
        assert sandbox.state()["orders"] == broken["orders"]
        assert not any(sandbox.cancellation_counts().values())


def test_a_failed_cancellation_fails_the_run(airflow_db):
    with run_sandbox(seed=5, orders=120, negative_stock=SHOW) as sandbox:
        sandbox.add_user("viewer@example.com", "viewer-key", role="read_only")
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        conn = json.loads(sandbox.airflow_conn_json())
        conn.update(login="viewer@example.com", password="viewer-key")
        code, log = run_dag(json.dumps(conn))
        assert code != 0, "a failed cancellation must not hide behind a green run"
        summary = summary_from_log(log)
        assert summary["failed"] == len(predicted) and summary["canceled"] == 0
        assert "E009" in log
        assert sandbox.state()["orders"] == before["orders"]


def test_a_small_shop_is_not_stopped_by_the_fraction_brake(airflow_db):
    # Seed 4 with 20 orders: 11 of 19 pending items are short (58% > max_cancel_fraction),
    # fewer than fraction_min_items, so they are canceled.
    with run_sandbox(seed=4, orders=20, negative_stock=SHOW) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        assert 0 < len(predicted) < 20
        code, log = run_dag(sandbox.airflow_conn_json())
        assert code == 0, save_log(log, "dag-small-shop")
        assert newly_canceled(before, sandbox.state()) == predicted
        assert summary_from_log(log)["canceled"] == len(predicted)
