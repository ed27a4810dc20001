"""A machine whose clock is 10 minutes off: the sandbox answers E003, the client signs
the request once more with the time of its clock, then fails with a message that says to
check the clock (issue 7). The clock is shifted for the client only (its transport's
``utc_now``), as a real skewed machine would be; the sandbox keeps the true time and its
5-minute window.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from airflow_seller_provider.client import SellerCenterClient
from airflow_seller_provider.client.errors import ClockSkewError
from airflow_seller_provider.compat import AirflowFailException
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
from airflow_seller_provider.sandbox.testing import run_sandbox
from tests.support import FakeTI

CONN_ID = "sc_reliability_clock"
SKEWS = [timedelta(minutes=10), timedelta(minutes=-10)]
SKEW_IDS = ["ahead", "behind"]


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox(seed=12, orders=30) as sb:
        yield sb


def skewed(skew: timedelta):
    return lambda: datetime.now(UTC) + skew


def sent_timestamps(requests: list[dict]) -> list[datetime]:
    return [datetime.fromisoformat(r["params"]["Timestamp"]) for r in requests]


@pytest.mark.parametrize("skew", SKEWS, ids=SKEW_IDS)
def test_the_client_re_signs_once_then_says_to_check_the_clock(sandbox, skew) -> None:
    sandbox.clear_requests_log()
    client = SellerCenterClient(
        sandbox.url,
        sandbox.user_id,
        sandbox.api_key,
        seller_id=sandbox.seller_id,
        business_unit=sandbox.business_unit,
        max_retries=5,
    )
    client.transport.utc_now = skewed(skew)
    with client, pytest.raises(ClockSkewError) as info:
        client.get_failure_reasons()
    error = info.value
    text = str(error)
    assert error.code == "E003" and not error.retryable and error.attempts == 2
    assert "Check the clock of the machine running this task" in text and "NTP" in text
    assert "this machine's clock is off" in text
    requests = sandbox.requests_log()
    # Re-signed once, then no more tries although 5 were allowed. Both Timestamps come from
    # the (skewed) clock at sending time. (They have whole seconds, so an immediate re-sign
    # may carry the same one.)
    assert [r["verdict"] for r in requests] == ["E003", "E003"]
    now = datetime.now(UTC)
    assert all(abs((t - now) - skew) < timedelta(seconds=30) for t in sent_timestamps(requests))


def test_the_task_fails_without_retry_and_says_to_check_the_clock(sandbox, monkeypatch) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", sandbox.airflow_conn_json())
    from airflow_seller_provider.client import transport

    real = transport.Transport.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        self.utc_now = skewed(timedelta(minutes=10))

    monkeypatch.setattr(transport.Transport, "__init__", init)
    state = sandbox.state()
    (user,) = [u for u in state["users"] if u["user_id"] == sandbox.user_id]
    targets = [
        {"order_item_id": i["order_item_id"], "order_id": o["order_id"]}
        for o in state["orders"]
        if o["seller_id"] == user["seller_id"]
        for i in o["items"]
        if i["status"] == "pending" and i["shipping_type"] != "Fulfillment"
    ][:2]
    sandbox.clear_requests_log()
    ti = FakeTI()
    op = CancelOrderItemOperator(
        task_id="cancel", order_item_id=targets, seller_center_conn_id=CONN_ID
    )
    with pytest.raises(AirflowFailException) as info:
        op.execute({"ti": ti})
    text = str(info.value)
    # The task's own failure message, not only the log, says what to do; no retry can help.
    assert "2 of 2 order item(s) failed" in text and "E003" in text
    assert "Check the clock of the machine running this task" in text
    assert "Retrying cannot help" in text
    assert [f["code"] for f in ti.pushed["outcome"]["failed"]] == ["E003", "E003"]
    # Each item: signed, re-signed once, given up; nothing canceled.
    requests = [r for r in sandbox.requests_log() if r["action"] == "SetStatusToCanceled"]
    assert [r["verdict"] for r in requests] == ["E003"] * 4
    assert Counter(r["params"]["OrderItemId"] for r in requests) == {
        str(t["order_item_id"]): 2 for t in targets
    }
    assert sandbox.state() == state
