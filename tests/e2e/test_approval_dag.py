"""The example DAG's approval step (``require_approval``) under ``airflow dags test``.

On Airflow 3.1+ a run whose brake trips (or every run, with ``always``) waits for a
person; ``hitl_answer`` answers in the metadata DB the way the UI's Required Actions page
does, or lets the deadline pass and runs the scheduler's timeout sweep. The sandbox says
what was canceled; ``expected_short`` (an independent oracle of the rule) says what should.
On Airflow 2.11 (no human-in-the-loop) ``on_brake`` fails as ``never`` does and ``always``
is refused before any request.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from airflow_seller_provider.compat import HITL_AVAILABLE
from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import (
    expected_short,
    items_by_id,
    newly_canceled,
    run_dag,
    run_dag_answering,
    save_log,
    summary_from_log,
)

pytestmark = pytest.mark.slow
needs_hitl = pytest.mark.skipif(not HITL_AVAILABLE, reason="human-in-the-loop needs Airflow 3.1+")

SEED, ORDERS = 5, 120
# Every run here needs short items on Seller Center's own stock, i.e. its figures below zero:
# the default sandbox clamps them at 0 (as the official SDK expects), so each asks for "show".
SHOW = "show"


def short_by_unit(state: dict, predicted: set[int]) -> Counter[str]:
    units = {o["order_id"]: o.get("operator_code", "") for o in state["orders"]}
    items = items_by_id(state)
    return Counter(units[items[i]["order_id"]].upper() for i in predicted)


def tripping_conf(predicted: set[int], **extra: object) -> dict[str, object]:
    assert len(predicted) >= 2, "the seeded data must oversell some SKUs"
    return {"max_cancellations": len(predicted) - 1, **extra}


@needs_hitl
def test_approve_cancels_exactly_the_planned_items(airflow_db):
    with run_sandbox(seed=SEED, orders=ORDERS, negative_stock=SHOW) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        code, log, seen = run_dag_answering(
            sandbox.airflow_conn_json(), tripping_conf(predicted), "Approve"
        )
        assert code == 0, save_log(log, "approval-approve")
        assert seen["task_id"] == "short_stock.approve_cancellations"
        body = seen["body"]
        # What the person read: the limit exceeded, the counts per business unit, the source.
        assert (
            f"{len(predicted)} short items exceed max_cancellations={len(predicted) - 1} by 1"
            in body
        )
        for unit, count in short_by_unit(before, predicted).items():
            assert re.search(rf"\| {unit} \| {count} \|", body), (unit, count, body)
        assert "Seller Center" in body and "sellable" in body
        assert str(len(predicted)) in seen["subject"]
        after = sandbox.state()
        assert newly_canceled(before, after) == predicted
        counts = sandbox.cancellation_counts()
        assert {i: counts.get(i) for i in predicted} == dict.fromkeys(predicted, 1)
        summary = summary_from_log(log)
        assert summary["short"] == summary["canceled"] == len(predicted)
        assert "Decision: approved (by ops-approver)" in log


@needs_hitl
def test_reject_cancels_nothing_and_fails_the_run(airflow_db):
    with run_sandbox(seed=SEED, orders=ORDERS, negative_stock=SHOW) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        code, log, seen = run_dag_answering(
            sandbox.airflow_conn_json(), tripping_conf(predicted), "Reject"
        )
        assert code != 0, "a rejected run must fail so that alerts fire"
        assert seen["did"] == "answered Reject"
        assert sandbox.state()["orders"] == before["orders"]
        assert not any(sandbox.cancellation_counts().values())
        assert "the cancellations were rejected" in log
        summary = summary_from_log(log)
        assert summary["short"] == len(predicted) and summary["canceled"] == 0


@needs_hitl
def test_no_answer_in_time_cancels_nothing(airflow_db):
    with run_sandbox(seed=SEED, orders=ORDERS, negative_stock=SHOW) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        conf = tripping_conf(predicted, approval_timeout_minutes=0.05)  # 3 s
        code, log, seen = run_dag_answering(sandbox.airflow_conn_json(), conf, "--timeout")
        assert code != 0
        assert seen["did"] == "timeout sweep"
        assert sandbox.state()["orders"] == before["orders"]
        assert not any(sandbox.cancellation_counts().values())
        assert "no answer within 0.05 minute(s)" in log


@needs_hitl
def test_always_asks_even_within_the_limits(airflow_db):
    with run_sandbox(seed=4, orders=20, negative_stock=SHOW) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        assert 0 < len(predicted) < 20  # within the brake's limits
        code, log, seen = run_dag_answering(
            sandbox.airflow_conn_json(), {"require_approval": "always"}, "Approve"
        )
        assert code == 0, save_log(log, "approval-always")
        assert "require_approval is 'always'" in seen["body"]
        assert newly_canceled(before, sandbox.state()) == predicted


def test_never_fails_at_the_brake_without_asking(airflow_db):
    with run_sandbox(seed=SEED, orders=ORDERS, negative_stock=SHOW) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        code, log = run_dag(
            sandbox.airflow_conn_json(),
            tripping_conf(predicted),
            settings={"require_approval": "never"},
        )
        assert code != 0
        assert "Safety brake" in log and "max_cancellations" in log
        assert "Waiting for Human-in-the-loop input" not in log
        assert not any(sandbox.cancellation_counts().values())


@pytest.mark.skipif(HITL_AVAILABLE, reason="Airflow 2.11 / 3.0 only: no human-in-the-loop")
def test_without_hitl_always_is_refused_and_on_brake_fails(airflow_db):
    with run_sandbox(seed=SEED, orders=ORDERS, negative_stock=SHOW) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        sandbox.clear_requests_log()
        code, log = run_dag(sandbox.airflow_conn_json(), {"require_approval": "always"})
        assert code != 0
        assert "require_approval='always' needs Airflow 3.1+" in log
        assert sandbox.requests_log() == [], "refused before any request"
        code, log = run_dag(sandbox.airflow_conn_json(), tripping_conf(predicted))
        assert code != 0 and "Safety brake" in log
        assert sandbox.state()["orders"] == before["orders"]


def test_dry_run_writes_the_report(airflow_db):
    with run_sandbox(seed=SEED, orders=ORDERS, negative_stock=SHOW) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        code, log = run_dag(sandbox.airflow_conn_json(), tripping_conf(predicted, dry_run=True))
        assert code == 0, save_log(log, "approval-dry-run")
        assert "Dry run: nothing was canceled." in log
        then = "ask a person to approve" if HITL_AVAILABLE else "stop at the safety brake"
        assert f"a real run would {then}" in log
        assert sandbox.state() == before
        assert summary_from_log(log)["would_cancel"] == len(predicted)
