"""The pipelined scan: exactly the sequential scan's items, the minimum of calls, no order
lost when orders leave ``pending`` mid-scan, and no throttling within the budget."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from airflow_seller_provider.client.models import Order, OrderItem, OrdersPage
from airflow_seller_provider.sandbox.testing import run_sandbox
from airflow_seller_provider.short_stock.find import find_short
from airflow_seller_provider.short_stock.scan import PendingOrderScan, competing_sku
from tests.support import sandbox_client

NOW = datetime.now(UTC)


def client_for(sandbox, **kwargs):
    options = {"max_retries": 10, "timeout": 3.0, "backoff_base": 0.05, "backoff_max": 0.5}
    return sandbox_client(sandbox, **{**options, **kwargs})


def scan(client, concurrency, read_skus=None):
    return PendingOrderScan(
        client,
        since=NOW - timedelta(days=30),
        until=NOW,
        max_concurrency=concurrency,
        read_skus=read_skus,
    ).run()


def keyed(items):
    return sorted((i.order_item_id, i.order_id, i.sku, i.status, i.business_unit) for i in items)


@pytest.mark.parametrize("concurrency", [8, 16])  # 2 and 4 pages in flight
def test_pipelined_scan_equals_the_sequential_scan_under_faults(concurrency):
    with run_sandbox(seed=6, orders=300) as sandbox:
        sequential = scan(client_for(sandbox), 1, client_for(sandbox).get_stock)
        sandbox.set_faults(fault_rate=0.2, fault_delay_s=0.3)  # every kind of fault
        sandbox.clear_requests_log()
        piped = scan(client_for(sandbox), concurrency, client_for(sandbox).get_stock)
        verdicts = {e["verdict"] for e in sandbox.requests_log()}
    assert keyed(piped.items) == keyed(sequential.items)
    assert piped.orders_seen == sequential.orders_seen > 100
    assert piped.stock == sequential.stock and piped.stock
    assert len({i.order_item_id for i in piped.items}) == len(piped.items)  # none twice
    assert verdicts - {"ok"}, "the faulty run met faults"


def test_calls_are_the_minimum():
    with run_sandbox(seed=6, orders=300) as sandbox:
        client = client_for(sandbox)
        sandbox.clear_requests_log()
        outcome = scan(client, 8, client.get_stock)
        log = sandbox.requests_log()
    calls = {a: sum(1 for e in log if e["action"] == a) for a in {e["action"] for e in log}}
    skus = {i.sku for i in outcome.items if competing_sku(i)}
    assert calls == {
        "GetOrders": math.ceil(outcome.orders_seen / 40),
        "GetMultipleOrderItems": math.ceil(outcome.orders_seen / 100),
        "GetProducts": math.ceil(len(skus) / 100),
    }
    assert outcome.passes == 1


@pytest.mark.parametrize("concurrency", [1, 16])
def test_no_pending_order_is_lost_when_orders_leave_pending_mid_scan(concurrency):
    # One call at a time makes the shift certain (a second pass must follow); 16 calls at a
    # time (4 pages in flight) may read the pages before or after it: nothing is lost either way.
    with run_sandbox(seed=6, orders=300) as sandbox:
        state = sandbox.state()
        seller = sandbox.seller_id
        pending_orders = [
            o
            for o in state["orders"]
            if o["seller_id"] == seller and all(i["status"] == "pending" for i in o["items"])
        ]
        leaving = pending_orders[:6]  # the oldest: every later page shifts
        pages = {"seen": 0}

        def hook(action, params):
            if action == "GetOrders":
                pages["seen"] += 1
                if pages["seen"] == 3:  # after two pages were answered
                    sandbox.set_ready_to_ship(
                        [i["order_item_id"] for o in leaving for i in o["items"]]
                    )

        sandbox.before_action(hook)
        outcome = scan(client_for(sandbox), concurrency)
        sandbox.before_action(None)
        after = sandbox.state()
    still = {
        i["order_item_id"]
        for o in after["orders"]
        if o["seller_id"] == seller
        for i in o["items"]
        if i["status"] == "pending"
    }
    found = {i.order_item_id for i in outcome.items if i.status == "pending"}
    assert still <= found, f"lost {sorted(still - found)[:10]}"
    assert found == still
    assert outcome.passes >= 2 or concurrency > 1
    assert len({i.order_item_id for i in outcome.items}) == len(outcome.items)


def test_under_a_5_per_second_budget_nothing_is_throttled():
    with run_sandbox(seed=6, orders=120, rate_limit=5) as sandbox:
        client = client_for(sandbox, rate_limit=5, page_size=30)
        result = find_short(client, lookback_days=30, max_concurrency=8)
        log = sandbox.requests_log()
    assert result.orders_seen > 0
    assert not [e for e in log if e["verdict"] == "E429"]


# -- a server that caps Limit, and one without TotalCount: a stand-in client ----------------
@dataclass
class CappedServer:
    """Orders 1..n; answers at most ``cap`` a page; ``total`` False drops TotalCount."""

    n: int
    cap: int
    total: bool = True
    page_size: int = 100
    order_batch_size: int = 100
    sku_batch_size: int = 100

    def __post_init__(self) -> None:
        self.offsets: list[int] = []

    def orders_page(self, *, offset: int, limit: int | None = None, **filters) -> OrdersPage:
        self.offsets.append(offset)
        limit = limit or self.page_size
        ids = list(range(1, self.n + 1))[offset : offset + min(limit, self.cap)]
        orders = [Order(i, str(i), NOW - timedelta(minutes=self.n - i), None) for i in ids]
        return OrdersPage(orders, self.n if self.total else None, offset, limit)

    def get_multiple_order_items(self, order_ids):
        return {i: [OrderItem(i * 10, i, "SKU", "pending", "Dropshipping")] for i in order_ids}


@pytest.mark.parametrize(
    ("n", "cap", "total"), [(250, 40, True), (250, 100, True), (250, 100, False), (200, 100, False)]
)
def test_a_capped_or_countless_server_loses_no_order(n, cap, total):
    server = CappedServer(n, cap, total)
    outcome = scan(server, 4)
    assert sorted(i.order_id for i in outcome.items) == list(range(1, n + 1))
    assert (
        len(server.offsets)
        == len(set(server.offsets))
        == math.ceil(n / cap) + (0 if total or n % cap else 1)
    )


def test_free_slots_take_pages_then_stock_then_items():
    # One call at a time, 10 orders a batch: the first page queues 10 item batches. The third
    # page (queued once the second answers) and the first stock batch (queued once an item
    # batch answers) each run next, not behind the item batches queued before them.
    server = CappedServer(300, 100, order_batch_size=10, sku_batch_size=10)
    order: list[str] = []
    orders_page = server.orders_page

    def page(**kw):
        order.append("page")
        time.sleep(0.02)  # the main thread queues what an answer unlocks meanwhile
        return orders_page(**kw)

    def batch(ids):
        order.append("items")
        time.sleep(0.02)
        return {
            i: [OrderItem(i * 10, i, f"SKU{i}", "pending", "Dropshipping", operator_code="facl")]
            for i in ids
        }

    def stock(skus):
        order.append("stock")
        time.sleep(0.02)
        return {("FACL", sku): 1 for sku in skus}

    server.orders_page, server.get_multiple_order_items = page, batch  # type: ignore[method-assign]
    outcome = scan(server, 1, stock)
    assert len(outcome.items) == 300 and order.count("stock") == 30
    items_at = [n for n, kind in enumerate(order) if kind == "items"]
    assert order[:2] == ["page", "page"]
    assert order.index("page", 2) < items_at[3]  # FIFO would run it after the 10th batch
    assert order.index("stock") < items_at[3]


@pytest.mark.parametrize(("concurrency", "pages"), [(1, 1), (4, 2), (8, 2), (16, 4), (40, 10)])
def test_pages_in_flight_grow_with_max_concurrency(concurrency, pages):
    # A quarter of the slots (at least 2, at most all of them) may hold pages: enough pages
    # name orders early, and item batches keep most slots.
    server = CappedServer(2_000, 100)
    running, most, lock = [0], [0], threading.Lock()
    orders_page = server.orders_page

    def page(**kw):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)  # long enough for every free slot to take a queued page
        with lock:
            running[0] -= 1
        return orders_page(**kw)

    server.orders_page = page  # type: ignore[method-assign]
    outcome = scan(server, concurrency)
    assert len(outcome.items) == 2_000
    assert most[0] == pages
