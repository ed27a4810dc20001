"""Stock as Seller Center keeps it: declared quantity per business unit, reservations by
pending seller-shipped items, ready_to_ship, GetStock, UpdateStock; business units,
packages and cancel scope, local-time dates, GetOrders Version 2.0."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_seller_provider.sandbox.testing import Sandbox, run_sandbox

from ..e2e.helpers import declared_less_reserved
from .helpers import Client, as_list, items_by_id

USER, KEY = "stock@example.com", "stock-key"
SINCE = "2000-01-01T00:00:00+00:00"
UA = "S1/Python/3.11.7/PROPIA/{}"


def _item(item_id: int, sku: str, status: str = "pending", **extra: Any) -> dict[str, Any]:
    return {"order_item_id": item_id, "sku": sku, "status": status, **extra}


# Order 1 (facl): A, A (package P1), B (package P2), A delivered (P1).
# Order 2 (faco, Cross docking): A.   Order 3 (facl, Own Warehouse): A, Fulfillment.
# Order 4 (fape): C.
# FACL: A declared 1, reserved 2 -> -1; B 3 - 1 -> 2.  FACO: A 5 - 1 -> 4.  C lacks FACL.
STATE: dict[str, Any] = {
    "sellers": [{"seller_id": "S1", "name": "One", "business_unit": "FACL"}],
    "users": [{"user_id": USER, "api_key": KEY, "seller_id": "S1", "role": "admin"}],
    "orders": [
        {
            "order_id": 1,
            "seller_id": "S1",
            "operator_code": "facl",
            "created_at": "2024-01-15 12:00:00",
            "promised_shipping_time": "2024-01-17 03:30:00",
            "items": [
                _item(11, "A", package_id="P1"),
                _item(12, "A", package_id="P1"),
                _item(13, "B", package_id="P2"),
                _item(14, "A", "delivered", package_id="P1"),
            ],
        },
        {
            "order_id": 2,
            "seller_id": "S1",
            "operator_code": "FACO",
            "created_at": "2024-07-15 12:00:00",
            "items": [_item(21, "A", shipping_type="Cross docking", package_id="P3")],
        },
        {
            "order_id": 3,
            "seller_id": "S1",
            "operator_code": "facl",
            "created_at": "2024-07-15 12:00:00",
            "items": [_item(31, "A", shipping_type="Fulfillment", package_id="P4")],
        },
        {
            "order_id": 4,
            "seller_id": "S1",
            "operator_code": "fape",
            "created_at": "2024-07-15 12:00:00",
            "items": [_item(41, "C", package_id="P5")],
        },
    ],
    "products": [
        {"seller_id": "S1", "seller_sku": "A", "quantity": {"FACL": 1, "FACO": 5}},
        {"seller_id": "S1", "seller_sku": "B", "quantity": {"FACL": 3}},
        {"seller_id": "S1", "seller_sku": "C", "quantity": {"FAPE": 1}},
    ],
}


@pytest.fixture
def exact() -> Iterator[Sandbox]:
    """STATE on the default sandbox (a stock below zero reported as 0); a test whose point
    is the figure below zero sets ``negative_stock = "show"`` itself."""
    with run_sandbox(user_id=USER, api_key=KEY, state=copy.deepcopy(STATE)) as sandbox:
        yield sandbox


@pytest.fixture
def api(exact: Sandbox) -> Client:
    return Client(exact.url, USER, KEY)


def products_stock(client: Client, **params: Any) -> dict[str, dict[str, int]]:
    reply = client.call("GetProducts", **params)
    assert reply.ok, reply.message
    return {
        p["SellerSku"]: {
            u["OperatorCode"]: int(u["Stock"])
            for u in as_list(p["BusinessUnits"]["BusinessUnit"] if p["BusinessUnits"] else "")
        }
        for p in as_list(reply.body["Products"]["Product"] if reply.body["Products"] else "")
    }


def stock_xml(*entries: dict[str, Any]) -> bytes:
    stocks = "".join(
        "<Stock>" + "".join(f"<{k}>{v}</{k}>" for k, v in entry.items()) + "</Stock>"
        for entry in entries
    )
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    return f"{head}<Request><Warehouse>{stocks}</Warehouse></Request>".encode()


def quantities(sandbox: Sandbox) -> dict[str, dict[str, int]]:
    return {p["seller_sku"]: p["quantity"] for p in sandbox.state()["products"]}


# -- reservations ----------------------------------------------------------------------
def test_stock_is_quantity_less_the_reservations_of_the_orders_own_unit(
    exact: Sandbox, api: Client
):
    exact.negative_stock = "show"  # the arithmetic, below zero included, is the point
    # Fulfillment (31) and delivered (14) items hold nothing; C lacks FACL and FACO
    expected = {"A": {"facl": -1, "faco": 4}, "B": {"facl": 2}, "C": {"fape": 0}}
    assert products_stock(api) == expected
    assert {p["seller_sku"]: p["stock"] for p in exact.state()["products"]} == {
        sku: {unit.upper(): value for unit, value in units.items()}
        for sku, units in expected.items()
    }
    assert exact.stock("A") == {"FACL": -1, "FACO": 4} and exact.stock("nope") == {}
    reply = api.call("GetProducts", SkuSellerList='["C"]')
    assert reply.body["Products"]["Product"]["BusinessUnits"]["BusinessUnit"]["OperatorCode"] == (
        "fape"
    )


def test_by_default_a_stock_below_zero_is_reported_as_zero(exact: Sandbox, api: Client):
    assert exact.negative_stock == "clamp"
    assert products_stock(api)["A"] == {"facl": 0, "faco": 4}  # 1 declared, 2 reserved
    assert exact.stock("A") == {"FACL": 0, "FACO": 4}
    assert quantities(exact)["A"] == {"FACL": 1, "FACO": 5}  # the declared figure is kept
    exact.negative_stock = "show"
    assert products_stock(api)["A"] == {"facl": -1, "faco": 4}
    with pytest.raises(ValueError):
        exact.negative_stock = "hide"
    with run_sandbox(
        user_id=USER, api_key=KEY, state=copy.deepcopy(STATE), negative_stock="show"
    ) as shown:
        assert Client(shown.url, USER, KEY).call("GetStock").ok
        assert shown.stock("A")["FACL"] == -1


def test_sold_out_filter_uses_the_reported_stock(exact: Sandbox, api: Client):
    assert set(products_stock(api, Filter="sold-out")) == {"C"}  # A has FACO 4 to sell
    exact.set_ready_to_ship([21])
    state = exact.state()
    for product in state["products"]:
        if product["seller_sku"] == "A":
            product["quantity"]["FACO"] = 0
    exact.load_state(state)
    assert set(products_stock(api, Filter="sold-out")) == {"A", "C"}


def test_a_cancel_releases_its_unit(exact: Sandbox, api: Client):
    exact.negative_stock = "show"  # -1 -> 0: a clamped 0 -> 0 would hide the release
    assert products_stock(api)["A"] == {"facl": -1, "faco": 4}
    assert api.cancel(11).ok
    assert products_stock(api)["A"] == {"facl": 0, "faco": 4}
    assert quantities(exact)["A"] == {"FACL": 1, "FACO": 5}


def test_ready_to_ship_deducts_the_unit_from_the_quantity(exact: Sandbox, api: Client):
    exact.negative_stock = "show"  # Stock stays -1: a clamped 0 would hide a change
    exact.set_ready_to_ship([11, 31])
    state = exact.state()
    items = items_by_id(state)
    assert items[11][1]["status"] == items[31][1]["status"] == "ready_to_ship"
    # 11 leaves both the reservation and the quantity: Stock is unchanged
    assert quantities(exact)["A"] == {"FACL": 0, "FACO": 5}
    assert products_stock(api)["A"] == {"facl": -1, "faco": 4}
    # the Fulfillment item (31) never touched the seller's stock
    assert api.cancel(11).code == "E028"
    with pytest.raises(ValueError, match="not pending"):
        exact.set_ready_to_ship([12, 14])  # all or none: 12 stays pending
    with pytest.raises(ValueError, match="does not exist"):
        exact.set_ready_to_ship([999])
    assert items_by_id(exact.state())[12][1]["status"] == "pending"


def test_ready_to_ship_endpoint(exact: Sandbox, api: Client):
    url = f"{exact.url}_sandbox/ready_to_ship"
    response = requests.post(url, json={"order_item_ids": [13]}, timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "order_item_ids": [13]}
    assert quantities(exact)["B"] == {"FACL": 2}
    assert products_stock(api)["B"] == {"facl": 2}
    again = requests.post(url, json={"order_item_ids": [13]}, timeout=5)
    assert again.status_code == 400 and "not pending" in again.json()["error"]
    assert requests.post(url, json={"ids": [13]}, timeout=5).status_code == 400
    assert requests.post(url, json={"order_item_ids": ["x"]}, timeout=5).status_code == 400


def test_seeded_shortages_show_below_zero_in_each_unit():
    with run_sandbox(seed=5, orders=150, negative_stock="show") as sandbox:
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
        stock = products_stock(client)
        negative = Counter(unit for units in stock.values() for unit, v in units.items() if v < 0)
        assert set(negative) == {"facl", "faco", "fape"}
        assert all(count >= 2 for count in negative.values())
        assert any(len(units) < 3 for units in stock.values())  # a product lacks a unit
        state = sandbox.state()
        held = Counter(
            (o["operator_code"].upper(), i["sku"])
            for o in state["orders"]
            if o["seller_id"] == sandbox.seller_id
            for i in o["items"]
            if i["status"] == "pending" and i["shipping_type"] != "Fulfillment"
        )
        for product in state["products"]:
            if product["seller_id"] != sandbox.seller_id:
                continue
            for unit, level in product["stock"].items():
                sku = product["seller_sku"]
                assert level == product["quantity"][unit] - held[(unit, sku)]
                assert stock[sku][unit.lower()] == level
        sandbox.negative_stock = "clamp"
        assert all(v >= 0 for units in products_stock(client).values() for v in units.values())


def _stock_figures(reply: Any) -> dict[tuple[str, str], str]:
    """(unit, SKU) -> the text of each GetProducts ``BusinessUnits/BusinessUnit/Stock`` or
    GetStock ``Warehouses/Warehouse/Quantity`` of an answer, read from its own format."""
    figures: dict[tuple[str, str], str] = {}
    if reply.headers["Content-Type"].startswith("application/xml"):
        for product in ET.fromstring(reply.content).iterfind("Body/Products/Product"):
            sku = product.findtext("SellerSku") or ""
            for path, field in (("BusinessUnits/BusinessUnit", "Stock"),
                                ("Warehouses/Warehouse", "Quantity")):  # fmt: skip
                for place in product.iterfind(path):
                    unit = (place.findtext("OperatorCode") or "").upper()
                    figures[(unit, sku)] = place.findtext(field) or ""
        return figures
    products = json.loads(reply.content)["SuccessResponse"]["Body"]["Products"]
    for product in as_list(products["Product"] if products else ""):
        units = product.get("BusinessUnits") or {}
        places = product.get("Warehouses") or {}
        for place, field in [(u, "Stock") for u in as_list(units.get("BusinessUnit"))] + [
            (w, "Quantity") for w in as_list(places.get("Warehouse"))
        ]:
            figures[(place["OperatorCode"].upper(), product["SellerSku"])] = place[field]
    return figures


@pytest.mark.parametrize("fmt", ["XML", "JSON"])
def test_the_default_sandbox_never_sends_a_negative_stock(fmt: str):
    """The official PHP SDK (LinioIT/seller-center-sdk, gsc-master) refuses a BusinessUnit
    whose Stock is below zero and drops it: by default the sandbox never sends one, though
    the seed oversells SKUs in every unit."""
    with run_sandbox(seed=5, orders=150) as sandbox:
        oversold = {
            key
            for key, figure in declared_less_reserved(sandbox.state(), sandbox.user_id).items()
            if figure < 0
        }
        assert {unit for unit, _ in oversold} == {"FACL", "FACO", "FAPE"}
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key, fmt=fmt)
        skus = json.dumps(sorted({sku for _, sku in oversold}))
        for action in ("GetProducts", "GetStock"):
            for params in ({}, {"SkuSellerList": skus}):
                reply = client.call(action, **params)
                assert reply.ok, reply.message
                assert reply.headers["Content-Type"].startswith(f"application/{fmt.lower()}")
                figures = _stock_figures(reply)
                assert oversold <= set(figures), (action, params)
                assert all(text.isdigit() for text in figures.values()), (action, params)
                assert {figures[key] for key in oversold} == {"0"}


# -- GetStock ----------------------------------------------------------------------------
def test_get_stock_shape(exact: Sandbox, api: Client):
    reply = api.call("GetStock")
    assert reply.ok and reply.head["TotalCount"] == "3"
    products = as_list(reply.body["Products"]["Product"])
    assert [p["SellerSku"] for p in products] == ["A", "B", "C"]
    assert as_list(products[0]["Warehouses"]["Warehouse"]) == [
        {
            "FacilityId": "GSC-FACL-S1",
            "SellerWarehouseId": "S1-FACL-WH",
            "OperatorCode": "facl",
            "Quantity": "0",  # 1 declared, 2 reserved: clamped by default
        },
        {
            "FacilityId": "GSC-FACO-S1",
            "SellerWarehouseId": "S1-FACO-WH",
            "OperatorCode": "faco",
            "Quantity": "4",
        },
    ]
    exact.negative_stock = "show"
    first = as_list(api.call("GetStock", fmt="JSON").body["Products"]["Product"])[0]
    assert first["Warehouses"]["Warehouse"][0]["Quantity"] == "-1"


def test_get_stock_paging_and_sku_list(api: Client):
    seen = []
    for offset in range(4):
        reply = api.call("GetStock", Limit=1, Offset=offset)
        assert reply.head["TotalCount"] == "3"
        page = reply.body["Products"]
        seen += [p["SellerSku"] for p in as_list(page["Product"] if page else "")]
    assert seen == ["A", "B", "C"]
    assert api.call("GetStock", Offset=3).body == {"Products": ""}
    listed = api.call("GetStock", SkuSellerList='["C", "A", "nope"]')
    assert [p["SellerSku"] for p in as_list(listed.body["Products"]["Product"])] == ["A", "C"]
    assert listed.head["TotalCount"] == "2"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"SkuSellerList": "[A]"}, "E070"),
        ({"SkuSellerList": "[1]"}, "E070"),
        ({"Limit": "0"}, "E019"),
        ({"Limit": "1001"}, "E019"),
        ({"Offset": "-1"}, "E014"),
    ],
)
def test_get_stock_parameter_errors(api: Client, params: dict, code: str):
    assert api.call("GetStock", **params).code == code
    assert api.call("GetStock", Limit="1000").ok


def test_get_stock_is_get_only(api: Client):
    reply = api.call("GetStock", "POST")
    assert reply.code == "E005" and reply.status == 405


def test_get_stock_of_a_seeded_sandbox_pages_every_product(reader: Client, shared_sandbox):
    mine = [
        p for p in shared_sandbox.state()["products"] if p["seller_id"] == shared_sandbox.seller_id
    ]
    reply = reader.call("GetStock")
    assert int(reply.head["TotalCount"]) == len(mine)
    got = {p["SellerSku"]: p for p in as_list(reply.body["Products"]["Product"])}
    for product in mine:
        warehouses = as_list(got[product["seller_sku"]]["Warehouses"]["Warehouse"] or "")
        assert {w["OperatorCode"]: int(w["Quantity"]) for w in warehouses} == {
            unit.lower(): level for unit, level in product["stock"].items()
        }


# -- UpdateStock -------------------------------------------------------------------------
def test_update_stock_sets_the_quantity_of_the_user_agents_unit(exact: Sandbox, api: Client):
    reply = api.post_body(
        "UpdateStock",
        stock_xml({"SellerSku": "A", "Quantity": 7}, {"SellerSku": "B", "Quantity": "0"}),
        UA.format("FACO"),
    )
    assert reply.ok and reply.status == 200, reply.message
    assert reply.head["RequestAction"] == "UpdateStock" and reply.body == ""
    assert quantities(exact) == {
        "A": {"FACL": 1, "FACO": 7},
        "B": {"FACL": 3, "FACO": 0},  # B now has a FACO unit
        "C": {"FAPE": 1},
    }
    assert products_stock(api)["A"] == {"facl": 0, "faco": 6}  # 7 less 21's reservation
    log = exact.requests_log()[-2]
    assert (log["action"], log["verdict"]) == ("UpdateStock", "ok")


@pytest.mark.parametrize(
    "user_agent", [None, "python-requests/2.32", "S1/Python/3.11/PROPIA/FABR", "a/b/FACO"]
)
def test_update_stock_without_a_valid_unit_in_the_user_agent_uses_the_default(
    exact: Sandbox, api: Client, user_agent: str | None
):
    assert api.post_body("UpdateStock", stock_xml({"SellerSku": "A", "Quantity": 9}), user_agent).ok
    assert quantities(exact)["A"] == {"FACL": 9, "FACO": 5}
    assert products_stock(api)["A"]["facl"] == 7


def test_update_stock_by_warehouse_id(exact: Sandbox, api: Client):
    body = stock_xml(
        {"SellerSku": "C", "Quantity": 4, "GSCFacilityId": "GSC-FAPE-S1"},
        {"SellerSku": "A", "Quantity": 2, "SellerWarehouseId": "S1-FACO-WH"},
    )
    assert api.post_body("UpdateStock", body, UA.format("FACL")).ok
    assert quantities(exact)["C"] == {"FAPE": 4}
    assert quantities(exact)["A"] == {"FACL": 1, "FACO": 2}
    # several Warehouse elements are read in order; a repeated SKU: the last wins
    two = (
        b"<Request><Warehouse><Stock><SellerSku>B</SellerSku><Quantity>8</Quantity></Stock>"
        b"</Warehouse><Warehouse><Stock><SellerSku>B</SellerSku><Quantity>6</Quantity></Stock>"
        b"</Warehouse></Request>"
    )
    assert api.post_body("UpdateStock", two).ok
    assert quantities(exact)["B"] == {"FACL": 6}


def test_update_stock_errors_are_all_or_nothing_with_details(exact: Sandbox, api: Client):
    before = exact.state()
    body = stock_xml(
        {"SellerSku": "A", "Quantity": 3},  # fine, but not applied
        {"SellerSku": "NOPE", "Quantity": 1},
        {"SellerSku": "B", "Quantity": "-1"},
        {"SellerSku": "B", "Quantity": "1.5"},
        {"SellerSku": "B"},
        {"Quantity": "2"},
        {"SellerSku": "A", "Quantity": 1, "GSCFacilityId": "GSC-FACL-S1", "SellerWarehouseId": "x"},
        {"SellerSku": "A", "Quantity": 1, "GSCFacilityId": "GSC-FABR-S1"},
        {"SellerSku": "A", "Quantity": 1, "SellerWarehouseId": "elsewhere"},
    )
    for fmt in ("XML", "JSON"):
        reply = api.post_body("UpdateStock", body, fmt=fmt)
        assert reply.code == "E005" and reply.status == 400
        assert "nothing was updated" in reply.message
        details = as_list(reply.body["ErrorDetail"])
        assert [(d["Field"], d["SellerSku"], d["Value"]) for d in details] == [
            ("SellerSku", "NOPE", "NOPE"),
            ("Quantity", "B", "-1"),
            ("Quantity", "B", "1.5"),
            ("Quantity", "B", ""),
            ("SellerSku", "", ""),
            ("GSCFacilityId", "A", "GSC-FACL-S1"),
            ("GSCFacilityId", "A", "GSC-FABR-S1"),
            ("SellerWarehouseId", "A", "elsewhere"),
        ]
        assert all(d["Message"] for d in details)
    assert exact.state() == before


def test_update_stock_error_details_stop_at_50(api: Client):
    body = stock_xml(*({"SellerSku": f"X{n}", "Quantity": 1} for n in range(80)))
    reply = api.post_body("UpdateStock", body)
    assert reply.code == "E005" and "80 error(s)" in reply.message
    assert len(as_list(reply.body["ErrorDetail"])) == 50


def test_update_stock_takes_at_most_500_skus(exact: Sandbox, api: Client):
    assert api.post_body("UpdateStock", stock_xml(*[{"SellerSku": "A", "Quantity": 1}] * 500)).ok
    reply = api.post_body("UpdateStock", stock_xml(*[{"SellerSku": "A", "Quantity": 2}] * 501))
    assert reply.code == "E005" and "at most 500" in reply.message and reply.body == ""
    assert quantities(exact)["A"]["FACL"] == 1


@pytest.mark.parametrize(
    ("body", "code", "text"),
    [
        (b"", "E030", "Empty Request"),
        (b"  \n ", "E030", "Empty Request"),
        (b"<Request><Warehouse>", "E005", "well-formed"),
        (b"not xml", "E005", "well-formed"),
        (b"<Stock><SellerSku>A</SellerSku><Quantity>1</Quantity></Stock>", "E005", "Request"),
        (b"<Request><Warehouse/></Request>", "E005", "no Request/Warehouse/Stock"),
        (b"<Request><Stock><SellerSku>A</SellerSku></Stock></Request>", "E005", "no Request"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "boom">]>'
            b"<Request><Warehouse><Stock><SellerSku>&x;</SellerSku><Quantity>1</Quantity>"
            b"</Stock></Warehouse></Request>",
            "E005",
            "DOCTYPE",
        ),
        (
            b'<!DOCTYPE r SYSTEM "file:///etc/passwd"><Request/>',
            "E005",
            "DOCTYPE",
        ),
        ("<Request/>".encode("utf-16"), "E005", "UTF-8"),
    ],
)
def test_update_stock_bad_bodies(exact: Sandbox, api: Client, body: bytes, code: str, text: str):
    before = exact.state()
    reply = api.post_body("UpdateStock", body)
    assert reply.code == code and text in reply.message, reply.message
    assert exact.state() == before


def test_update_stock_is_post_only_and_needs_an_admin(exact: Sandbox, api: Client):
    reply = api.call("UpdateStock", "GET")
    assert reply.code == "E005" and reply.status == 405
    exact.add_user("viewer@example.com", "viewer-key", role="read_only")
    viewer = Client(exact.url, "viewer@example.com", "viewer-key")
    body = stock_xml({"SellerSku": "A", "Quantity": 1})
    assert viewer.post_body("UpdateStock", body).code == "E009"
    assert quantities(exact)["A"]["FACL"] == 1


def test_update_stock_touches_only_the_users_seller():
    with run_sandbox(seed=3, orders=20) as sandbox:
        state = sandbox.state()
        theirs = next(
            p["seller_sku"]
            for p in state["products"]
            if p["seller_id"] != sandbox.seller_id and p["seller_sku"].startswith("OTR")
        )
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
        reply = client.post_body("UpdateStock", stock_xml({"SellerSku": theirs, "Quantity": 1}))
        assert reply.code == "E005" and reply.body["ErrorDetail"]["SellerSku"] == theirs
        assert sandbox.state() == state


def test_a_body_over_the_limit_is_e011(api: Client):
    reply = api.post_body("UpdateStock", b"<Request>" + b" " * (1 << 20) + b"</Request>")
    assert reply.code == "E011" and reply.status == 413


# -- business units, packages, cancel scope ---------------------------------------------
def test_orders_carry_their_operator_code_and_shipping_type(api: Client):
    reply = api.call("GetOrders", CreatedAfter=SINCE)
    got = {
        o["OrderId"]: (o["OperatorCode"], o["ShippingType"]) for o in reply.body["Orders"]["Order"]
    }
    assert got == {
        "1": ("facl", "Dropshipping"),
        "2": ("faco", "Cross docking"),
        "3": ("facl", "Own Warehouse"),
        "4": ("fape", "Dropshipping"),
    }
    multi = api.call("GetMultipleOrderItems", OrderIdList="[2,3,1]")
    orders = as_list(multi.body["Orders"]["Order"])
    assert [list(o)[:5] for o in orders] == [
        ["OrderId", "OrderNumber", "OperatorCode", "ShippingType", "OrderItems"]
    ] * 3
    assert [(o["OrderId"], o["OperatorCode"], o["ShippingType"]) for o in orders] == [
        ("2", "faco", "Cross docking"),
        ("3", "facl", "Own Warehouse"),
        ("1", "facl", "Dropshipping"),
    ]
    item = orders[0]["OrderItems"]["OrderItem"]
    assert (item["ShippingType"], item["Currency"]) == ("Cross docking", "COP")
    fulfillment = orders[1]["OrderItems"]["OrderItem"]
    assert fulfillment["ShippingType"] == "Fulfillment"


def test_seeded_orders_spread_over_the_business_units(reader: Client, shared_sandbox):
    reply = reader.call("GetOrders", CreatedAfter=SINCE, Limit=1000)
    orders = reply.body["Orders"]["Order"]
    assert {o["OperatorCode"] for o in orders} == {"facl", "faco", "fape"}
    assert {o["ShippingType"] for o in orders} <= {"Dropshipping", "Cross docking", "Own Warehouse"}
    ids = [int(o["OrderId"]) for o in orders if o["OperatorCode"] == "fape"][:5]
    multi = reader.call("GetMultipleOrderItems", OrderIdList=json.dumps(ids))
    for order in as_list(multi.body["Orders"]["Order"]):
        assert order["OperatorCode"] == "fape"
        assert {i["Currency"] for i in as_list(order["OrderItems"]["OrderItem"])} == {"PEN"}


def test_package_scope_cancels_the_pending_seller_shipped_package(exact: Sandbox, api: Client):
    exact.cancel_scope = "package"
    reply = api.cancel(12, "SHORTAGE", ReasonDetail="sin stock")
    assert reply.ok
    listed = as_list(reply.body["OrderItems"]["OrderItem"])
    assert [(i["OrderItemId"], i["PackageId"]) for i in listed] == [("12", "P1"), ("11", "P1")]
    items = items_by_id(exact.state())
    for item_id in (11, 12):
        item = items[item_id][1]
        assert (item["status"], item["reason"], item["reason_detail"]) == (
            "canceled",
            "SHORTAGE",
            "sin stock",
        )
    assert items[13][1]["status"] == "pending"  # another package
    assert items[14][1]["status"] == "delivered"  # not pending
    assert exact.cancellation_counts() == {11: 1, 12: 1}
    assert products_stock(api)["A"] == {"facl": 1, "faco": 4}  # both units released
    # the rules for the requested item are unchanged
    assert api.cancel(11).code == "E028"
    assert api.cancel(31).code == "E028"
    assert api.cancel(99).code == "E020"
    # a lone item in its package
    one = as_list(api.cancel(13).body["OrderItems"]["OrderItem"])
    assert [i["OrderItemId"] for i in one] == ["13"]


def test_item_scope_cancels_one_item(exact: Sandbox, api: Client):
    assert exact.cancel_scope == "item"
    reply = api.cancel(11)
    assert reply.body["OrderItems"]["OrderItem"]["OrderItemId"] == "11"
    assert items_by_id(exact.state())[12][1]["status"] == "pending"
    with pytest.raises(ValueError):
        exact.cancel_scope = "order"


def test_package_scope_from_run_sandbox():
    with run_sandbox(
        user_id=USER, api_key=KEY, state=copy.deepcopy(STATE), cancel_scope="package"
    ) as sandbox:
        assert Client(sandbox.url, USER, KEY).cancel(11).ok
        assert sandbox.cancellation_counts() == {11: 1, 12: 1}


# -- dates, versions, sort errors -----------------------------------------------------------
def test_body_dates_are_the_orders_local_time_without_offset(api: Client):
    # 12:00 UTC is 09:00 in Santiago in January (UTC-3), 08:00 in July (UTC-4), 07:00 in
    # Bogota and Lima (UTC-5) all year.
    reply = api.call("GetOrders", CreatedAfter=SINCE, Limit=10)
    created = {o["OrderId"]: o["CreatedAt"] for o in reply.body["Orders"]["Order"]}
    assert created == {
        "1": "2024-01-15 09:00:00",
        "2": "2024-07-15 07:00:00",
        "3": "2024-07-15 08:00:00",
        "4": "2024-07-15 07:00:00",
    }
    first = next(o for o in reply.body["Orders"]["Order"] if o["OrderId"] == "1")
    assert first["PromisedShippingTime"] == "2024-01-17 00:30:00"
    items = as_list(api.call("GetOrderItems", OrderId=2).body["OrderItems"]["OrderItem"])
    assert items[0]["CreatedAt"] == "2024-07-15 07:00:00"
    # date filters keep their meaning: naive is UTC
    reply = api.call(
        "GetOrders", CreatedAfter="2024-07-15 12:00:00", CreatedBefore="2024-07-15T08:00:00-04:00"
    )
    assert reply.head["TotalCount"] == "3"
    assert reply.head["Timestamp"].endswith("+0000")


def test_get_orders_accepts_version_2_sorted_by_updated_at(exact: Sandbox, api: Client):
    assert api.cancel(41).ok  # order 4 is now the last updated
    v1 = api.call("GetOrders", CreatedAfter=SINCE)
    v2 = api.call("GetOrders", CreatedAfter=SINCE, Version="2.0")
    assert v2.ok and v2.head["TotalCount"] == "4"
    assert [o["OrderId"] for o in v1.body["Orders"]["Order"]] == ["1", "2", "3", "4"]
    assert [o["OrderId"] for o in v2.body["Orders"]["Order"]][-1] == "4"
    by_created = api.call("GetOrders", CreatedAfter=SINCE, Version="2.0", SortBy="created_at")
    assert by_created.body == v1.body
    for action, extra in (("GetProducts", {}), ("GetOrderItems", {"OrderId": "1"})):
        assert api.call(action, Version="2.0", **extra).code == "E002"
    assert api.call("GetOrders", CreatedAfter=SINCE, Version="3.0").code == "E002"


def test_sort_errors(api: Client):
    field = api.call("GetOrders", CreatedAfter=SINCE, SortBy="price")
    assert field.code == "E075" and "sort filter" in field.message
    direction = api.call("GetOrders", CreatedAfter=SINCE, SortDirection="UP")
    assert direction.code == "E074" and "sort direction" in direction.message


def test_order_intake_takes_an_order_only_when_sellable_stock_covers_it(
    exact: Sandbox, api: Client
):
    url = f"{exact.url}_sandbox/orders"
    before = len(exact.state()["orders"])
    taken = requests.post(
        url, json={"business_unit": "FACL", "items": [{"sku": "B", "quantity": 2}]}, timeout=5
    )
    assert taken.status_code == 201, taken.text
    order_id, item_ids = taken.json()["order_id"], taken.json()["order_item_ids"]
    assert len(item_ids) == 2 and order_id > 4
    order = next(o for o in exact.state()["orders"] if o["order_id"] == order_id)
    assert order["operator_code"] == "facl" and order["shipping_type"] == "Dropshipping"
    assert [i["status"] for i in order["items"]] == ["pending", "pending"]
    assert products_stock(api)["B"] == {"facl": 0}  # the new order reserves its units
    listed = api.call("GetOrders", CreatedAfter=SINCE, Status="pending")
    assert order_id in {int(o["OrderId"]) for o in as_list(listed.body["Orders"]["Order"])}

    for body, sku in (
        ({"business_unit": "FACL", "items": [{"sku": "B", "quantity": 1}]}, "B"),  # sold out
        ({"business_unit": "FACL", "items": [{"sku": "A", "quantity": 1}]}, "A"),  # oversold
        ({"business_unit": "facl", "items": [{"sku": "C", "quantity": 1}]}, "C"),  # not in FACL
        # A covered in FACO, but the whole order is refused for B
        ({"business_unit": "FACO", "items": [{"sku": "A"}, {"sku": "B"}]}, "B"),
    ):
        refused = requests.post(url, json=body, timeout=5)
        assert refused.status_code == 409, refused.text
        assert refused.json()["sku"] == sku and f"'{sku}'" in refused.json()["error"]
    assert len(exact.state()["orders"]) == before + 1, "a refused order creates nothing"

    for body, why in (
        ({"business_unit": "FACL", "items": [{"sku": "B"}], "coupon": "X"}, "unknown fields"),
        ({"business_unit": "FAAR", "items": [{"sku": "B"}]}, "business_unit"),
        ({"business_unit": "FACO", "items": []}, "non-empty list"),
        ({"business_unit": "FACO", "items": [{"sku": "A", "quantity": 0}]}, "quantity"),
        ({"business_unit": "FACO", "items": [{"sku": "A", "size": "M"}]}, "sku and quantity"),
        ({"business_unit": "FACO", "items": [{"sku": "A"}], "user_id": "nobody"}, "nobody"),
        ({"business_unit": "FACO", "items": [{"sku": "A"}], "shipping_type": "Boat"}, "shipping"),
    ):
        bad = requests.post(url, json=body, timeout=5)
        assert bad.status_code == 400 and why in bad.json()["error"], bad.text
    assert requests.post(url, data="{not json", timeout=5).status_code == 400
    assert len(exact.state()["orders"]) == before + 1
