"""Seeded data, the state schema, loading and saving."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests

from airflow_seller_provider.sandbox.seed import OVERSOLD_PER_UNIT, seed_state
from airflow_seller_provider.sandbox.store import Store, normalise_state
from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import Client, items_by_id, pick_items, without_stock

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
USER = {"user_id": "u@example.com", "api_key": "k"}


def seeded(seed: int = 1, orders: int = 200, **kwargs) -> dict:
    return seed_state(seed=seed, orders=orders, now=NOW, **USER, **kwargs)


def test_same_seed_same_state_other_seed_other_state():
    assert seeded(1) == seeded(1)
    assert seeded(1) != seeded(2)
    with run_sandbox(seed=4, orders=50) as one, run_sandbox(seed=4, orders=50) as two:
        assert one.state() == two.state()


def test_state_is_json_and_survives_a_round_trip():
    state = seeded()
    assert json.loads(json.dumps(state)) == state
    assert normalise_state(state) == state  # already complete: loading changes nothing
    snapshot = Store(state).snapshot()
    assert without_stock(snapshot) == state  # the snapshot adds the derived stock
    assert Store(snapshot).snapshot() == snapshot  # which a load ignores


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7, 8])
def test_seeded_data_has_what_the_tests_of_others_need(seed: int):
    state = seeded(seed)
    (user,) = [u for u in state["users"] if u["user_id"] == USER["user_id"]]
    assert user["role"] == "admin" and user["api_key"] == "k"
    main = user["seller_id"]
    assert state["sellers"][0]["seller_id"] == main
    mine = [o for o in state["orders"] if o["seller_id"] == main]
    theirs = [o for o in state["orders"] if o["seller_id"] != main]
    assert len(mine) == 200 and len(theirs) >= 3
    assert any(i["status"] == "pending" for o in theirs for i in o["items"])

    # ids: unique across sellers, int32
    order_ids = [o["order_id"] for o in state["orders"]]
    item_ids = [i["order_item_id"] for o in state["orders"] for i in o["items"]]
    assert len(set(order_ids)) == len(order_ids) and len(set(item_ids)) == len(item_ids)
    assert all(0 < i < 2**31 for i in order_ids + item_ids)

    # one item per unit, 1..4 a order, some orders with the same SKU twice
    assert {len(o["items"]) for o in mine} == {1, 2, 3, 4}
    assert any(len({i["sku"] for i in o["items"]}) < len(o["items"]) for o in mine)
    assert all(i["order_id"] == o["order_id"] for o in state["orders"] for i in o["items"])

    # mostly pending, but a mix
    statuses = Counter(i["status"] for o in mine for i in o["items"])
    assert statuses["pending"] > sum(statuses.values()) / 2
    assert {"canceled", "delivered", "shipped", "ready_to_ship"} <= set(statuses)
    assert any(len({i["status"] for i in o["items"]}) > 1 for o in mine)

    # orders in every business unit; the order's shipping type matches its items'
    assert {o["operator_code"] for o in mine} == {"facl", "faco", "fape"}
    for order in state["orders"]:
        types = {i["shipping_type"] for i in order["items"]}
        if order["shipping_type"] == "Own Warehouse":
            assert types == {"Fulfillment"}
        else:
            assert types == {order["shipping_type"]} <= {"Dropshipping", "Cross docking"}
    assert {o["shipping_type"] for o in mine} == {"Dropshipping", "Cross docking", "Own Warehouse"}

    # packages: several items in one package, and orders of two packages
    assert any(len(o["items"]) > len({i["package_id"] for i in o["items"]}) for o in mine)
    assert any(len({i["package_id"] for i in o["items"]}) == 2 for o in mine)

    # stock per business unit: below the reservations (real shortages), exactly at them
    # (sold out but covered), with enough to spare; a product lacking a unit here and there
    products = {p["seller_sku"]: p["quantity"] for p in state["products"] if p["seller_id"] == main}
    pending = [(o, i) for o in mine for i in o["items"] if i["status"] == "pending"]
    demand = Counter(i["sku"] for _, i in pending)
    assert set(demand) <= set(products)
    for unit in ("FACL", "FACO", "FAPE"):
        held = Counter(
            i["sku"]
            for o, i in pending
            if o["operator_code"] == unit.lower() and i["shipping_type"] != "Fulfillment"
        )
        has = {sku: q[unit] for sku, q in products.items() if unit in q}
        short = [s for s in has if has[s] < held[s]]
        assert len(short) == OVERSOLD_PER_UNIT, unit
        assert any(has[s] == held[s] - 1 for s in short)
        assert any(has[s] == held[s] > 0 for s in has)  # Stock 0 with pending items
        assert len([s for s in has if held[s] and has[s] > held[s]]) >= 5
        assert any(has[s] == 0 == held[s] for s in has)
        lacking = [s for s in products if s not in has]
        assert lacking and not any(held[s] for s in lacking)

    # a few Fulfillment items, pending ones among them
    fulfillment = [i for _, i in pending if i["shipping_type"] == "Fulfillment"]
    assert 3 <= len(fulfillment) < len(pending) / 4

    # dates: within the last 20 days of the anchor day, updated after created
    anchor = NOW.replace(hour=0, minute=0, second=0)
    oldest = (anchor - timedelta(days=20)).strftime("%Y-%m-%d %H:%M:%S")
    newest = anchor.strftime("%Y-%m-%d %H:%M:%S")
    for order in state["orders"]:
        assert oldest <= order["created_at"] <= order["updated_at"] <= newest
        for item in order["items"]:
            assert item["created_at"] <= item["updated_at"] <= order["updated_at"]
            if item["status"] == "canceled":
                assert item["reason"]

    names = [r["name"] for r in state["failure_reasons"] if r["type"] == "canceled"]
    assert len(names) >= 2
    assert state["cancellations"] == {}


def test_business_unit_is_the_default_and_business_units_are_spread_over():
    state = seeded(business_unit="FAPE")
    assert state["sellers"][0]["business_unit"] == "FAPE"
    assert state["sellers"][0]["business_units"] == ["FACL", "FACO", "FAPE"]
    only = seeded(business_unit="FACO", business_units=["FACO", "FAPE"])
    assert only["sellers"][0]["business_units"] == ["FACO", "FAPE"]
    assert {o["operator_code"] for o in only["orders"]} == {"faco", "fape"}
    assert all(set(p["quantity"]) <= {"FACO", "FAPE"} for p in only["products"])
    # the default unit is always one the seller sells in
    assert seeded(business_unit="FACL", business_units=["FAPE"])["sellers"][0][
        "business_units"
    ] == ["FACL", "FAPE"]
    with pytest.raises(ValueError):
        seeded(business_units=["FABR"])


def test_few_orders_still_seed():
    for orders in (0, 1, 5):
        state = seeded(orders=orders)
        main = state["sellers"][0]["seller_id"]
        assert len([o for o in state["orders"] if o["seller_id"] == main]) == orders
        Store(state)


def test_a_minimal_state_is_completed_with_defaults():
    state = normalise_state(
        {
            "users": [{"user_id": "a@b.c", "api_key": "k", "seller_id": "S1"}],
            "orders": [
                {
                    "order_id": 5,
                    "seller_id": "S1",
                    "created_at": "2024-01-02T03:04:05-03:00",
                    "items": [{"order_item_id": 50, "sku": "X", "status": "pending"}],
                }
            ],
            "products": [
                {"seller_id": "S1", "seller_sku": "X", "stock": {"FACL": 2}},  # old form
                {
                    "seller_id": "S1",
                    "seller_sku": "Y",
                    "quantity": {"faco": 1},
                    "stock": {"FACL": 9},
                },
                {"seller_id": "S1", "seller_sku": "Z"},
            ],
        }
    )
    assert state["sellers"] == [
        {
            "seller_id": "S1",
            "name": "S1",
            "business_unit": "FACL",
            "business_units": ["FACL", "FACO", "FAPE"],
        }
    ]
    assert state["users"][0]["role"] == "admin"
    order = state["orders"][0]
    assert order["created_at"] == "2024-01-02 06:04:05" == order["updated_at"]
    assert order["order_number"] == "5"
    assert order["operator_code"] == "facl" and order["shipping_type"] == "Dropshipping"
    item = order["items"][0]
    assert item["order_id"] == 5 and item["shipping_type"] == "Dropshipping"
    assert item["created_at"] == order["created_at"] and item["reason"] == ""
    # an old "stock" is taken as the quantity; next to "quantity" it is ignored; neither:
    # every unit at 0. A unit left out is one the product lacks.
    assert [p["quantity"] for p in state["products"]] == [
        {"FACL": 2},
        {"FACO": 1},
        {"FACL": 0, "FACO": 0, "FAPE": 0},
    ]
    assert all("stock" not in p for p in state["products"])
    assert {r["name"] for r in state["failure_reasons"]} >= {"Wrong address"}
    assert state["cancellations"] == {}


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["orders"][1].update(order_id=s["orders"][0]["order_id"]),
        lambda s: s["orders"][0]["items"][0].update(
            order_item_id=s["orders"][1]["items"][0]["order_item_id"]
        ),
        lambda s: s["orders"][0]["items"][0].update(status="lost"),
        lambda s: s["orders"][0].update(order_id=2**31),
        lambda s: s["orders"][0].update(created_at="yesterday"),
        lambda s: s["users"][0].update(role="owner"),
        lambda s: s["products"][0].update(quantity={"FACL": "many"}),
        lambda s: s["products"][0].update(quantity={"FACL": 1.5}),
        lambda s: s["products"][0].update(quantity={"FABR": 1}),
        lambda s: s["products"][0].update(quantity=[1]),
        lambda s: s["products"][0].pop("quantity") and s["products"][0].update(stock={"X": 1}),
        lambda s: s["orders"][0].update(operator_code="fabr"),
        lambda s: s["orders"][0].update(shipping_type="Teleport"),
        lambda s: s["sellers"][0].update(business_units=["FACL", "FABR"]),
        lambda s: s.update(orders={}),
        lambda s: s.update(failure_reasons=["SHORTAGE"]),
        lambda s: s.update(sellers=[], users=[], orders=[]),
    ],
)
def test_bad_states_are_refused(change):
    state = seeded(orders=5)
    change(state)
    with pytest.raises(ValueError):
        normalise_state(state)


def test_load_state_sets_an_exact_situation(seller_center_sandbox, client: Client):
    sandbox = seller_center_sandbox
    state = sandbox.state()
    target = pick_items(state, sandbox.seller_id)[0]
    _, item = items_by_id(state)[target["order_item_id"]]
    item["status"] = "delivered"
    sandbox.load_state(state)
    assert without_stock(sandbox.state()) == without_stock(state)
    assert client.cancel(target["order_item_id"]).code == "E028"
    item["status"] = "pending"
    response = requests.post(f"{sandbox.url}_sandbox/state", json=state, timeout=5)
    assert response.status_code == 200
    assert client.cancel(target["order_item_id"]).ok


def test_loading_a_bad_state_over_http_is_400_and_keeps_the_old(seller_center_sandbox):
    sandbox = seller_center_sandbox
    before = sandbox.state()
    url = f"{sandbox.url}_sandbox/state"
    assert requests.post(url, data=b"{not json", timeout=5).status_code == 400
    bad = copy.deepcopy(before)
    bad["orders"][0]["items"][0]["status"] = "lost"
    response = requests.post(url, json=bad, timeout=5)
    assert response.status_code == 400 and "lost" in response.json()["error"]
    assert sandbox.state() == before


def test_the_sandbox_user_keeps_logging_in_after_any_load(seller_center_sandbox, client: Client):
    sandbox = seller_center_sandbox
    state = sandbox.state()
    state["users"] = [u for u in state["users"] if u["user_id"] != sandbox.user_id]
    sandbox.load_state(state)
    assert client.call("GetFailureReasons").ok
    (user,) = [u for u in sandbox.state()["users"] if u["user_id"] == sandbox.user_id]
    assert user["role"] == "admin" and user["seller_id"] == state["sellers"][0]["seller_id"]


def test_state_file_round_trip(tmp_path):
    path = tmp_path / "state.json"
    with run_sandbox(seed=2, orders=20, state=path) as sandbox:
        target = pick_items(sandbox.state(), sandbox.seller_id)[0]["order_item_id"]
        assert Client(sandbox.url, sandbox.user_id, sandbox.api_key).cancel(target).ok
        final = sandbox.state()
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved == final and saved["cancellations"] == {str(target): 1}
    with run_sandbox(seed=99, state=path) as again:  # the file wins over the seed
        assert again.state() == final
        assert again.cancellation_counts() == {target: 1}
