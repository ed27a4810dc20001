"""CancelOrderItemOperator.execute against the sandbox, with a stand-in task instance."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_seller_provider.compat import AirflowException, AirflowFailException
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
from airflow_seller_provider.sandbox.testing import run_sandbox
from tests.support import FakeTI

CONN_ID = "sc_operator_test"


@pytest.fixture
def sandbox(monkeypatch):
    with run_sandbox(seed=8, orders=80) as sb:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}",
            sb.airflow_conn_json({"max_retries": 4, "timeout": 2}),
        )
        yield sb


def items(state):
    return {i["order_item_id"]: (o, i) for o in state["orders"] for i in o["items"]}


def pick(sandbox, *, status="pending", fulfillment=False, count=1, main=True):
    state = sandbox.state()
    (user,) = [u for u in state["users"] if u["user_id"] == sandbox.user_id]
    found = [
        {"order_item_id": i["order_item_id"], "order_id": o["order_id"]}
        for o in state["orders"]
        if (o["seller_id"] == user["seller_id"]) == main
        for i in o["items"]
        if i["status"] == status and (i["shipping_type"] == "Fulfillment") == fulfillment
    ]
    assert len(found) >= count, f"seed has too few {status} items"
    return found[:count]


def run(sandbox, ids, ti=None, **kwargs):
    op = CancelOrderItemOperator(
        task_id="cancel", order_item_id=ids, seller_center_conn_id=CONN_ID, **kwargs
    )
    ti = ti or FakeTI()
    return op.execute({"ti": ti}), ti


def test_one_item_is_canceled(sandbox):
    (target,) = pick(sandbox)
    result, ti = run(sandbox, target["order_item_id"], reason_detail="Out of stock")
    assert result["canceled"] == [target["order_item_id"]]
    assert result["counts"] == {
        "canceled": 1,
        "already_canceled": 0,
        "no_longer_pending": 0,
        "would_cancel": 0,
        "failed": 0,
        "collateral_canceled": 0,
    }
    assert ti.pushed["outcome"] == result
    _, item = items(sandbox.state())[target["order_item_id"]]
    assert (item["status"], item["reason"], item["reason_detail"]) == (
        "canceled",
        "SHORTAGE",
        "Out of stock",
    )


def test_a_batch_with_mixed_outcomes(sandbox):
    pending = pick(sandbox, count=3)
    shipped = pick(sandbox, status="delivered")
    fulfillment = pick(sandbox, fulfillment=True)
    foreign = pick(sandbox, main=False)
    ids = [*pending, *shipped, *fulfillment, foreign[0]["order_item_id"]]
    with pytest.raises(AirflowFailException) as info:
        run(sandbox, ids)
    message = str(info.value)
    # The delivered item left pending before its cancel: not a failure.
    assert "2 of 6" in message
    assert str(foreign[0]["order_item_id"]) in message and "E020" in message
    assert str(shipped[0]["order_item_id"]) not in message
    counts = sandbox.cancellation_counts()
    assert all(counts.get(p["order_item_id"]) == 1 for p in pending)
    state = items(sandbox.state())
    assert state[shipped[0]["order_item_id"]][1]["status"] == "delivered"


def test_failed_items_are_reported_in_xcom_before_failing(sandbox):
    (good,) = pick(sandbox)
    (fulfillment,) = pick(sandbox, fulfillment=True)
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="Fulfillment"):
        run(sandbox, [good, fulfillment], ti=ti)
    outcome = ti.pushed["outcome"]
    assert outcome["canceled"] == [good["order_item_id"]]
    (failed,) = outcome["failed"]
    assert failed["order_item_id"] == fulfillment["order_item_id"] and failed["code"] == "E028"


def test_an_item_that_left_pending_is_no_longer_pending_not_failed(sandbox):
    good, packed = pick(sandbox, count=2)
    (shipped,) = pick(sandbox, status="delivered")
    sandbox.set_ready_to_ship([packed["order_item_id"]])
    before = len(sandbox.requests_log())
    result, _ = run(sandbox, [good, shipped, packed])
    assert result["canceled"] == [good["order_item_id"]]
    assert sorted(result["no_longer_pending"]) == sorted(
        [shipped["order_item_id"], packed["order_item_id"]]
    )
    assert result["counts"]["failed"] == 0
    cancels = [r for r in sandbox.requests_log()[before:] if r["action"] == "SetStatusToCanceled"]
    assert len(cancels) == 1  # the prefetch showed the others had left pending


def test_package_scope_sends_one_cancel_per_package_and_settles_siblings(monkeypatch):
    with run_sandbox(seed=8, orders=80, cancel_scope="package") as sb:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}", sb.airflow_conn_json({"cancel_scope": "package"})
        )
        package = _a_pending_package(sb)
        result, _ = run(sb, package)
        assert sorted(result["canceled"]) == sorted(t["order_item_id"] for t in package)
        cancels = [r for r in sb.requests_log() if r["action"] == "SetStatusToCanceled"]
        assert len(cancels) == 1
        assert result["collateral_canceled"] == []
        assert all(sb.cancellation_counts()[t["order_item_id"]] == 1 for t in package)


def test_item_scope_on_a_package_account_reports_collateral(monkeypatch, caplog, capsys):
    with run_sandbox(seed=8, orders=80, cancel_scope="package") as sb:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", sb.airflow_conn_json())
        package = _a_pending_package(sb)
        first, rest = package[0], package[1:]
        result, _ = run(sb, [first])
    assert result["canceled"] == [first["order_item_id"]]
    assert sorted(c["order_item_id"] for c in result["collateral_canceled"]) == sorted(
        t["order_item_id"] for t in rest
    )
    assert result["counts"]["collateral_canceled"] == len(rest)
    assert "cancel_scope=package" in caplog.text + capsys.readouterr().out


def _a_pending_package(sb):
    state = sb.state()
    (user,) = [u for u in state["users"] if u["user_id"] == sb.user_id]
    for order in state["orders"]:
        if order["seller_id"] != user["seller_id"]:
            continue
        packages: dict[str, list] = {}
        for i in order["items"]:
            if i["status"] == "pending" and i["shipping_type"] != "Fulfillment":
                packages.setdefault(i["package_id"], []).append(
                    {"order_item_id": i["order_item_id"], "order_id": order["order_id"]}
                )
        for members in packages.values():
            if len(members) >= 2:
                return members
    raise AssertionError("the seed has multi-item packages")


def test_e028_after_an_earlier_success_is_already_canceled(sandbox):
    targets = pick(sandbox, count=2)
    run(sandbox, targets)
    result, _ = run(sandbox, targets)  # a retried task, or a second run
    assert sorted(result["already_canceled"]) == sorted(t["order_item_id"] for t in targets)
    assert result["counts"]["failed"] == 0
    assert all(sandbox.cancellation_counts()[t["order_item_id"]] == 1 for t in targets)


def test_retry_try_prefetches_and_skips_done_items(sandbox):
    targets = pick(sandbox, count=3)
    run(sandbox, targets[:2])
    before = len(sandbox.requests_log())
    result, _ = run(sandbox, targets, ti=FakeTI(try_number=2))
    assert sorted(result["already_canceled"]) == sorted(t["order_item_id"] for t in targets[:2])
    assert result["canceled"] == [targets[2]["order_item_id"]]
    cancels = [r for r in sandbox.requests_log()[before:] if r["action"] == "SetStatusToCanceled"]
    assert len(cancels) == 1  # only what was left


def test_without_order_id_the_lookup_scans_recent_orders(sandbox):
    (target,) = pick(sandbox)
    run(sandbox, target)
    result, _ = run(sandbox, target["order_item_id"])  # no order id: bounded scan
    assert result["already_canceled"] == [target["order_item_id"]]


def test_an_item_that_cannot_be_found_is_not_verified(sandbox):
    (target,) = pick(sandbox, status="delivered")
    wrong_order = pick(sandbox)[0]["order_id"]
    with pytest.raises(AirflowFailException, match="NOT_VERIFIED"):
        run(sandbox, {"order_item_id": target["order_item_id"], "order_id": wrong_order})


def test_dry_run_reports_and_sends_no_cancellation(sandbox):
    pending = pick(sandbox, count=2)
    (done,) = pick(sandbox, status="canceled")
    before = sandbox.state()
    result, _ = run(sandbox, [*pending, done], dry_run=True)
    assert sorted(result["would_cancel"]) == sorted(p["order_item_id"] for p in pending)
    assert result["already_canceled"] == [done["order_item_id"]]
    assert result["dry_run"] is True
    assert sandbox.state() == before
    assert not any(r["action"] == "SetStatusToCanceled" for r in sandbox.requests_log())


def test_applied_but_answer_lost_counts_as_canceled_once(sandbox, monkeypatch):
    # Enough attempts that a run of faults on one call is vanishingly unlikely (0.3**10).
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        sandbox.airflow_conn_json({"max_retries": 10, "timeout": 2}),
    )
    targets = pick(sandbox, count=12)
    # Every answer-losing fault kind, often enough that several items meet one.
    sandbox.set_faults(fault_rate=0.3, fault_kinds=["lost", "drop", "E021"])
    try:
        result, _ = run(sandbox, targets, max_concurrency=4)
    except AirflowException:
        pytest.fail("faults within the client's retries must not fail the task")
    finally:
        sandbox.set_faults(fault_rate=0.0)
    done = set(result["canceled"]) | set(result["already_canceled"])
    assert done == {t["order_item_id"] for t in targets}
    counts = sandbox.cancellation_counts()
    assert all(counts[t["order_item_id"]] == 1 for t in targets)


@pytest.mark.parametrize(
    ("ids", "kwargs", "needle"),
    [
        ("abc", {}, "'abc'"),
        ([1, "x"], {}, "'x'"),
        ([], {}, "empty"),
        (5, {"reason": ""}, "reason"),
        (5, {"reason": "R" * 300}, "reason"),
        (5, {"reason": "Because I said so"}, "Because I said so"),
    ],
)
def test_bad_input_fails_before_any_cancellation(sandbox, ids, kwargs, needle):
    with pytest.raises(AirflowFailException) as info:
        run(sandbox, ids, **kwargs)
    assert needle in str(info.value)
    assert not any(r["action"] == "SetStatusToCanceled" for r in sandbox.requests_log())


def test_a_listed_failure_reason_is_accepted(sandbox):
    reasons = [r["name"] for r in sandbox.state()["failure_reasons"] if r["type"] == "canceled"]
    (target,) = pick(sandbox)
    result, _ = run(sandbox, target, reason=reasons[0])
    assert result["canceled"] == [target["order_item_id"]]


def test_throttling_left_over_is_a_retryable_failure(sandbox, monkeypatch):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", sandbox.airflow_conn_json({"max_retries": 1})
    )
    targets = pick(sandbox, count=4)
    sandbox.set_faults(rate_limit=1)
    try:
        with pytest.raises(AirflowException) as info:
            run(sandbox, targets, max_concurrency=4)
    finally:
        sandbox.set_faults(rate_limit=None)
    assert not isinstance(info.value, AirflowFailException)
    assert "E429" in str(info.value)


def test_api_key_not_in_logs_or_xcom(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    targets = pick(sandbox, count=2)
    result, ti = run(sandbox, targets)
    text = json.dumps(result) + json.dumps(ti.pushed) + caplog.text
    assert sandbox.api_key not in text
