"""Throttling: a sandbox that allows 5 requests/s per user, a batch of 100 cancellations,
and a connection budget of 5 requests/s. The client's pacing keeps E429 answers rare, and
each one that comes is retried to success (issue 7).

tests/client/test_transport.py checks the pacer on a fake clock; this is the real thing,
with threads, sockets and the sandbox's token bucket.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_seller_provider.client import SellerCenterClient
from airflow_seller_provider.client.errors import ThrottlingError
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
from airflow_seller_provider.sandbox.testing import Sandbox, run_sandbox
from tests.support import FakeTI

CONN_ID = "sc_reliability_throttle"
CANCEL = "SetStatusToCanceled"
LIMIT = 5  # requests per second, on both sides
BATCH = 100


def cancelable(sandbox: Sandbox) -> list[dict[str, int]]:
    state = sandbox.state()
    (user,) = [u for u in state["users"] if u["user_id"] == sandbox.user_id]
    return [
        {"order_item_id": i["order_item_id"], "order_id": o["order_id"]}
        for o in state["orders"]
        if o["seller_id"] == user["seller_id"]
        for i in o["items"]
        if i["status"] == "pending" and i["shipping_type"] != "Fulfillment"
    ]


def test_without_pacing_the_sandbox_limit_really_bites() -> None:
    """The control: the same limit, a client with no rate_limit and no retries, 8 threads."""
    with run_sandbox(seed=2, orders=20, rate_limit=LIMIT) as sandbox:
        client = SellerCenterClient(
            sandbox.url,
            sandbox.user_id,
            sandbox.api_key,
            seller_id=sandbox.seller_id,
            business_unit=sandbox.business_unit,
            max_retries=1,
        )

        def one(_: int) -> str:
            try:
                client.get_failure_reasons()
                return "ok"
            except ThrottlingError:
                return "E429"

        with client, ThreadPoolExecutor(8) as pool:
            outcomes = Counter(pool.map(one, range(40)))
    assert outcomes["E429"] >= 20, outcomes


@pytest.mark.slow
def test_a_batch_of_100_at_5_per_second_is_paced_not_throttled(monkeypatch) -> None:
    with run_sandbox(seed=2, orders=300, rate_limit=LIMIT) as sandbox:
        targets = cancelable(sandbox)[:BATCH]
        assert len(targets) == BATCH
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}",
            sandbox.airflow_conn_json({"rate_limit": LIMIT, "max_retries": 5}),
        )
        op = CancelOrderItemOperator(
            task_id="cancel", order_item_id=targets, seller_center_conn_id=CONN_ID
        )
        started = time.monotonic()
        result = op.execute({"ti": FakeTI()})
        elapsed = time.monotonic() - started
        everything = sandbox.requests_log()
        counts = sandbox.cancellation_counts()

    # The operator reads the items' orders once before and once after (GetMultipleOrderItems,
    # 100 orders a call); the rest are cancellations.
    reads = [e for e in everything if e["action"] == "GetMultipleOrderItems"]
    orders = len({t["order_id"] for t in targets})
    assert [e["verdict"] for e in reads if e["verdict"] == "ok"] == ["ok"] * (2 * -(-orders // 100))
    log = [e for e in everything if e["action"] != "GetMultipleOrderItems"]
    ids = sorted(t["order_item_id"] for t in targets)
    assert sorted(result["canceled"]) == ids and result["counts"]["failed"] == 0
    assert {i: counts.get(i) for i in ids} == dict.fromkeys(ids, 1)

    verdicts = Counter(entry["verdict"] for entry in log)
    throttled = [entry for entry in log if entry["verdict"] == "E429"]
    # Rare: at most 5% of the requests (0 is the usual count).
    assert len(throttled) <= 0.05 * len(everything), verdicts
    # Only cancellations were sent (no lookups were needed), once each plus its retries.
    assert {entry["action"] for entry in log} == {CANCEL}
    assert verdicts["ok"] == BATCH and len(log) == BATCH + len(throttled), verdicts
    # Every E429 was followed by a successful retry of the same item.
    for entry in throttled:
        item = entry["params"]["OrderItemId"]
        later = log[log.index(entry) + 1 :]
        assert any(e["params"]["OrderItemId"] == item and e["verdict"] == "ok" for e in later)
    # 100 requests at 5/s cannot take much less than 20 s: the budget was kept.
    assert elapsed >= (BATCH - LIMIT) / LIMIT - 1, elapsed
