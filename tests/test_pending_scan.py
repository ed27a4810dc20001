"""The DAG's find step against the sandbox, and the safety brake."""

from __future__ import annotations

import pytest

from airflow_seller_provider.client.api import SellerCenterClient
from airflow_seller_provider.pending_scan import check_brake, find_short, load_stock_source
from airflow_seller_provider.sandbox.testing import run_sandbox

from .e2e.helpers import predict_short


def client_for(sandbox) -> SellerCenterClient:
    return SellerCenterClient(
        sandbox.url,
        sandbox.user_id,
        sandbox.api_key,
        seller_id=sandbox.seller_id,
        business_unit=sandbox.business_unit,
        page_size=40,
    )


@pytest.mark.parametrize("seed", [2, 9])
def test_find_short_matches_the_rule_on_the_sandbox_state(seed):
    with run_sandbox(seed=seed, orders=150) as sandbox:
        predicted = predict_short(sandbox.state(), sandbox.user_id)
        sandbox.clear_requests_log()
        result = find_short(client_for(sandbox), lookback_days=30, batch_size=25)
        assert {i.order_item_id for i in result.decision.short} == predicted
        log = sandbox.requests_log()
    actions = [entry["action"] for entry in log]
    assert set(actions) == {"GetOrders", "GetMultipleOrderItems", "GetProducts"}
    assert all(entry["verdict"] == "ok" for entry in log)
    pages = [e["params"] for e in log if e["action"] == "GetOrders"]
    assert all(p["Status"] == "pending" and p["SortBy"] == "created_at" for p in pages)
    assert actions.count("GetMultipleOrderItems") == -(-result.orders_seen // 25)


def test_a_stock_source_of_your_own_replaces_seller_center_stock():
    with run_sandbox(seed=2, orders=60) as sandbox:
        result = find_short(
            client_for(sandbox), lookback_days=30, stock_source=lambda skus: dict.fromkeys(skus, 0)
        )
        assert not any(e["action"] == "GetProducts" for e in sandbox.requests_log())
    competing = [i for i in result.items if i.competes_for_stock]
    assert len(result.decision.short) == len(competing) > 0


def test_load_stock_source_refuses_bad_paths():
    for path, needle in [
        ("no_colon", "package.module:callable"),
        ("json:nope", "cannot be imported"),
        ("math:pi", "neither callable"),
    ]:
        with pytest.raises(ValueError, match=needle):
            load_stock_source(path)
    assert load_stock_source("json:loads") is not None


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
