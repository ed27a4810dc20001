"""The DAG's find step against the sandbox, and the safety brake."""

from __future__ import annotations

import sys
import types

import pytest

from airflow_seller_provider.sandbox.testing import run_sandbox
from airflow_seller_provider.short_stock.find import NO_SHORTAGE_VISIBLE, find_short
from airflow_seller_provider.short_stock.plan import batch_by_order, check_brake

from ..e2e.helpers import declared_less_reserved, expected_short
from ..support import sandbox_client


def client_for(sandbox):
    return sandbox_client(sandbox)


@pytest.mark.parametrize("seed", [2, 9])
def test_find_short_matches_the_expectation_on_the_sandbox(seed):
    # The rule's sellable path: Seller Center's figures below zero (not the default).
    with run_sandbox(seed=seed, orders=150, negative_stock="show") as sandbox:
        state = sandbox.state()
        predicted = expected_short(state, sandbox.user_id)
        assert predicted, "the seed declares quantities below the reservations"
        sandbox.clear_requests_log()
        client = client_for(sandbox)
        result = find_short(client, lookback_days=30)
        assert {i.order_item_id for i in result.decision.short} == predicted
        assert result.stock.counts == "sellable" and result.note is None
        log = sandbox.requests_log()
    actions = [entry["action"] for entry in log]
    assert set(actions) == {"GetOrders", "GetMultipleOrderItems", "GetProducts"}
    assert all(entry["verdict"] == "ok" for entry in log)
    pages = [e["params"] for e in log if e["action"] == "GetOrders"]
    assert all(p["Status"] == "pending" and p["SortBy"] == "created_at" for p in pages)
    assert actions.count("GetMultipleOrderItems") == -(-result.orders_seen // 100)
    units = {i.business_unit for i in result.decision.short}
    assert len(units) > 1, "the seed's shortages span business units"


def test_the_default_sandbox_shows_no_shortage_in_seller_center_stock_and_says_why():
    """The default sandbox clamps as the official SDK expects: the seed's SKUs declared
    under their reservations read 0, so Seller Center's own stock finds nothing short and
    the note names the warehouse sources."""
    with run_sandbox(seed=2, orders=80) as sandbox:
        figures = declared_less_reserved(sandbox.state(), sandbox.user_id)
        result = find_short(client_for(sandbox), lookback_days=30)
    oversold = {key for key, figure in figures.items() if figure < 0} & set(result.stock.units)
    assert oversold, "the seed declares quantities below the reservations"
    assert {result.stock.units[key] for key in oversold} == {0}
    assert not result.stock.any_negative
    assert result.decision.short == []
    assert result.note == NO_SHORTAGE_VISIBLE and "stock_source='sql'" in result.note


def test_a_callable_stock_source_replaces_seller_center_stock(monkeypatch):
    module = types.ModuleType("scan_test_stock")
    module.none_left = lambda skus: dict.fromkeys(skus, 0)
    monkeypatch.setitem(sys.modules, "scan_test_stock", module)
    with run_sandbox(seed=2, orders=60) as sandbox:
        result = find_short(
            client_for(sandbox), lookback_days=30, stock_source="scan_test_stock:none_left"
        )
        assert not any(e["action"] == "GetProducts" for e in sandbox.requests_log())
    assert result.stock.counts == "on_hand"
    competing = [i for i in result.items if i.competes_for_stock]
    assert len(result.decision.short) == len(competing) > 0


def test_batches_never_split_an_order():
    short = [{"order_item_id": n, "order_id": n // 3} for n in range(10)]
    batches = batch_by_order(short, 4)
    assert [len(b) for b in batches] == [3, 3, 4]
    assert sum(batches, []) == short
    assert batch_by_order(short, 100) == [short]


def test_safety_brake():
    assert check_brake(10, 100, max_cancellations=500, max_cancel_fraction=0.5) is None
    stop = check_brake(80, 100, max_cancellations=500, max_cancel_fraction=0.5)
    assert stop and "80 of 100" in stop and "Nothing was canceled" in stop
    stop = check_brake(600, 2000, max_cancellations=500, max_cancel_fraction=0.5)
    assert stop and "max_cancellations=500" in stop
    assert check_brake(0, 0, max_cancellations=0, max_cancel_fraction=0.0) is None
    # A small shop: 8 of 10 pending items short is a fraction the brake lets through below
    # fraction_min_items, and stops from it on.
    limits = {"max_cancellations": 500, "max_cancel_fraction": 0.5}
    assert check_brake(8, 10, **limits, fraction_min_items=20) is None
    stop = check_brake(25, 30, **limits, fraction_min_items=20)
    assert stop and "25 of 30" in stop and "from 20 short items" in stop
