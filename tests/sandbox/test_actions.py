"""The calls: filters, paging, shapes, and SetStatusToCanceled's effect on the state."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_seller_provider.sandbox.seed import OTHER_API_KEY, OTHER_USER_ID

from .helpers import Client, as_list, items_by_id, local, pick_items, utc

SINCE = "2000-01-01T00:00:00+00:00"


def orders(reply) -> list[dict]:
    return as_list(reply.body["Orders"]["Order"]) if reply.body["Orders"] else []


def all_pages(client: Client, limit: int, **filters) -> tuple[list[str], int]:
    ids: list[str] = []
    offset = 0
    while True:
        reply = client.call("GetOrders", Limit=limit, Offset=offset, **filters)
        assert reply.ok, reply.message
        page = [o["OrderId"] for o in orders(reply)]
        ids += page
        total = int(reply.head["TotalCount"])
        if len(page) < limit:
            return ids, total
        offset += limit


# -- GetOrders ---------------------------------------------------------------------------
def test_get_orders_needs_created_after_or_updated_after(reader: Client):
    reply = reader.call("GetOrders")
    assert reply.code == "E018"
    assert reader.call("GetOrders", UpdatedAfter=SINCE).ok


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"CreatedAfter": "not a date"}, "E017"),
        ({"CreatedAfter": SINCE, "UpdatedBefore": "2020-02-30"}, "E017"),
        ({"CreatedAfter": SINCE, "Limit": "0"}, "E019"),
        ({"CreatedAfter": SINCE, "Limit": "1001"}, "E019"),
        ({"CreatedAfter": SINCE, "Limit": "-5"}, "E019"),
        ({"CreatedAfter": SINCE, "Limit": "ten"}, "E019"),
        ({"CreatedAfter": SINCE, "Offset": "-1"}, "E014"),
        ({"CreatedAfter": SINCE, "Offset": "1e3"}, "E014"),
        ({"CreatedAfter": SINCE, "SortBy": "price"}, "E075"),
        ({"CreatedAfter": SINCE, "SortDirection": "UP"}, "E074"),
        ({"CreatedAfter": SINCE, "Status": "lost"}, "E036"),
    ],
)
def test_get_orders_parameter_errors(reader: Client, params: dict, code: str):
    reply = reader.call("GetOrders", **params)
    assert reply.code == code, reply.message


def test_get_orders_default_page_and_total_count(reader: Client, shared_sandbox):
    state = shared_sandbox.state()
    mine = [o for o in state["orders"] if o["seller_id"] == shared_sandbox.seller_id]
    reply = reader.call("GetOrders", CreatedAfter=SINCE)
    assert int(reply.head["TotalCount"]) == len(mine) == 120
    page = orders(reply)
    assert len(page) == 100  # default Limit
    expected = sorted(mine, key=lambda o: (o["created_at"], o["order_id"]))[:100]
    assert [int(o["OrderId"]) for o in page] == [o["order_id"] for o in expected]


@pytest.mark.parametrize("sort_by", ["created_at", "updated_at"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_paging_covers_every_match_once(reader: Client, sort_by: str, direction: str):
    ids, total = all_pages(
        reader, 7, CreatedAfter=SINCE, SortBy=sort_by, SortDirection=direction, Status="pending"
    )
    assert len(ids) == len(set(ids)) == total > 7


def test_sorting_follows_sort_by_and_direction(reader: Client):
    for sort_by, field in (("created_at", "CreatedAt"), ("updated_at", "UpdatedAt")):
        asc = orders(reader.call("GetOrders", CreatedAfter=SINCE, SortBy=sort_by, Limit=1000))
        desc = orders(
            reader.call(
                "GetOrders", CreatedAfter=SINCE, SortBy=sort_by, SortDirection="DESC", Limit=1000
            )
        )
        # local times of three countries: compare the instants
        instants = [utc(o[field], o["OperatorCode"]) for o in asc]
        assert instants == sorted(instants)
        assert [o["OrderId"] for o in desc] == [o["OrderId"] for o in reversed(asc)]


def test_date_filters_are_inclusive_and_accept_both_forms(reader: Client, shared_sandbox):
    state = shared_sandbox.state()
    mine = sorted(
        (o for o in state["orders"] if o["seller_id"] == shared_sandbox.seller_id),
        key=lambda o: (o["created_at"], o["order_id"]),
    )
    low, high = mine[10]["created_at"], mine[30]["created_at"]
    expected = [o["order_id"] for o in mine if low <= o["created_at"] <= high]
    iso_low = low.replace(" ", "T") + "Z"
    # the same instant written with another offset
    moment = datetime.fromisoformat(high).replace(tzinfo=UTC)
    iso_high = moment.astimezone(timezone(timedelta(hours=-3))).isoformat()
    for after, before in ((low, high), (iso_low, iso_high)):
        reply = reader.call("GetOrders", CreatedAfter=after, CreatedBefore=before, Limit=1000)
        assert [int(o["OrderId"]) for o in orders(reply)] == expected
        assert int(reply.head["TotalCount"]) == len(expected)


def test_updated_filters(reader: Client, shared_sandbox):
    state = shared_sandbox.state()
    mine = [o for o in state["orders"] if o["seller_id"] == shared_sandbox.seller_id]
    pivot = sorted(o["updated_at"] for o in mine)[len(mine) // 2]
    reply = reader.call("GetOrders", UpdatedAfter=pivot, Limit=1000)
    assert {int(o["OrderId"]) for o in orders(reply)} == {
        o["order_id"] for o in mine if o["updated_at"] >= pivot
    }
    reply = reader.call("GetOrders", CreatedAfter=SINCE, UpdatedBefore=pivot, Limit=1000)
    assert {int(o["OrderId"]) for o in orders(reply)} == {
        o["order_id"] for o in mine if o["updated_at"] <= pivot
    }


def test_status_filter_keeps_orders_with_an_item_in_that_status(reader: Client, shared_sandbox):
    state = shared_sandbox.state()
    mine = [o for o in state["orders"] if o["seller_id"] == shared_sandbox.seller_id]
    for status in ("pending", "canceled", "delivered"):
        reply = reader.call("GetOrders", CreatedAfter=SINCE, Status=status, Limit=1000)
        got = {int(o["OrderId"]) for o in orders(reply)}
        assert got == {
            o["order_id"] for o in mine if any(i["status"] == status for i in o["items"])
        }
        assert all(status in as_list(o["Statuses"]["Status"]) for o in orders(reply))


def test_no_match_is_an_empty_orders_element(reader: Client):
    for fmt in ("XML", "JSON"):
        reply = reader.call("GetOrders", fmt=fmt, CreatedAfter="2999-01-01T00:00:00+00:00")
        assert reply.ok and reply.body == {"Orders": ""}
        assert reply.head["TotalCount"] == "0"
    past_end = reader.call("GetOrders", CreatedAfter=SINCE, Offset=100000)
    assert past_end.body == {"Orders": ""} and past_end.head["TotalCount"] == "120"


def test_order_fields(reader: Client, shared_sandbox):
    state = shared_sandbox.state()
    reply = reader.call("GetOrders", CreatedAfter=SINCE, Limit=1000)
    by_id = {o["order_id"]: o for o in state["orders"]}
    for order in orders(reply):
        stored = by_id[int(order["OrderId"])]
        assert order["OrderNumber"] == stored["order_number"]
        assert order["OperatorCode"] == stored["operator_code"]
        assert order["ShippingType"] == stored["shipping_type"]
        code = stored["operator_code"]
        assert order["CreatedAt"] == local(stored["created_at"], code)
        assert order["UpdatedAt"] == local(stored["updated_at"], code)
        assert order["PromisedShippingTime"] == local(stored["promised_shipping_time"], code)
        assert order["ItemsCount"] == str(len(stored["items"]))
        statuses = as_list(order["Statuses"]["Status"])
        assert len(statuses) == len(set(statuses))
        assert set(statuses) == {i["status"] for i in stored["items"]}
        total = sum(float(i["item_price"]) for i in stored["items"])
        assert float(order["Price"]) == pytest.approx(total)


# -- GetOrderItems and GetMultipleOrderItems -----------------------------------------------
def test_get_order_items(reader: Client, shared_sandbox):
    state = shared_sandbox.state()
    order = next(
        o
        for o in state["orders"]
        if o["seller_id"] == shared_sandbox.seller_id and len(o["items"]) > 1
    )
    reply = reader.call("GetOrderItems", OrderId=order["order_id"])
    items = as_list(reply.body["OrderItems"]["OrderItem"])
    assert [int(i["OrderItemId"]) for i in items] == [i["order_item_id"] for i in order["items"]]
    for got, stored in zip(items, order["items"], strict=True):
        assert got["OrderId"] == str(order["order_id"])
        assert got["Sku"] == stored["sku"] and got["Status"] == stored["status"]
        assert got["ShippingType"] == stored["shipping_type"]


@pytest.mark.parametrize("value", ["0", "-3", "abc", "99999999999", "1.5", "2147483648"])
def test_get_order_items_invalid_id_is_e016(reader: Client, value: str):
    assert reader.call("GetOrderItems", OrderId=value).code == "E016"


def test_get_order_items_missing_id_is_e001(reader: Client):
    assert reader.call("GetOrderItems").code == "E001"


def test_another_sellers_order_is_e016(reader: Client, shared_sandbox):
    other = next(
        o for o in shared_sandbox.state()["orders"] if o["seller_id"] != shared_sandbox.seller_id
    )
    assert reader.call("GetOrderItems", OrderId=other["order_id"]).code == "E016"


def test_get_multiple_order_items(reader: Client, shared_sandbox):
    state = shared_sandbox.state()
    mine = [o for o in state["orders"] if o["seller_id"] == shared_sandbox.seller_id][:3]
    other = next(o for o in state["orders"] if o["seller_id"] != shared_sandbox.seller_id)
    ids = [o["order_id"] for o in mine] + [other["order_id"], 1]
    reply = reader.call("GetMultipleOrderItems", OrderIdList=json.dumps(ids))
    got = as_list(reply.body["Orders"]["Order"])
    assert [int(o["OrderId"]) for o in got] == [o["order_id"] for o in mine]
    for order, stored in zip(got, mine, strict=True):
        assert order["OrderNumber"] == stored["order_number"]
        items = as_list(order["OrderItems"]["OrderItem"])
        assert [int(i["OrderItemId"]) for i in items] == [
            i["order_item_id"] for i in stored["items"]
        ]
    spaced = "[ " + " , ".join(str(i) for i in ids) + " ]"
    assert reader.call("GetMultipleOrderItems", OrderIdList=spaced).body == reply.body


@pytest.mark.parametrize("value", ["1,2", "[1;2]", '["1"]', "[]", "[1,]", "{1}", "[1.0]"])
def test_order_id_list_not_in_array_form_is_e056(reader: Client, value: str):
    assert reader.call("GetMultipleOrderItems", OrderIdList=value).code == "E056"


def test_more_than_100_ids_is_e038(reader: Client, shared_sandbox):
    mine = [o["order_id"] for o in shared_sandbox.state()["orders"]][:101]
    assert reader.call("GetMultipleOrderItems", OrderIdList=json.dumps(mine[:100])).ok
    assert reader.call("GetMultipleOrderItems", OrderIdList=json.dumps(mine)).code == "E038"


def test_ids_out_of_range_and_none_found(reader: Client):
    assert reader.call("GetMultipleOrderItems", OrderIdList="[0]").code == "E037"
    assert reader.call("GetMultipleOrderItems", OrderIdList="[1, 2]").code == "E039"


# -- GetProducts and GetFailureReasons -----------------------------------------------------
def test_get_products_for_listed_skus(reader: Client, shared_sandbox):
    state = shared_sandbox.state()
    mine = [p for p in state["products"] if p["seller_id"] == shared_sandbox.seller_id]
    wanted = [mine[0]["seller_sku"], mine[7]["seller_sku"], mine[11]["seller_sku"], "NO-SUCH"]
    reply = reader.call("GetProducts", SkuSellerList=json.dumps(wanted, ensure_ascii=False))
    products = as_list(reply.body["Products"]["Product"])
    assert [p["SellerSku"] for p in products] == wanted[:3]
    for product in products:
        stored = next(p for p in mine if p["seller_sku"] == product["SellerSku"])
        units = as_list(product["BusinessUnits"]["BusinessUnit"])
        assert {u["OperatorCode"]: int(u["Stock"]) for u in units} == {
            k.lower(): v for k, v in stored["stock"].items()
        }
        assert all(u["BusinessUnit"] and u["Status"] and u["Price"] for u in units)


def test_get_products_only_shows_the_users_seller(reader: Client, shared_sandbox):
    state = shared_sandbox.state()
    theirs = [p for p in state["products"] if p["seller_id"] != shared_sandbox.seller_id]
    only_theirs = [p["seller_sku"] for p in theirs if p["seller_sku"].startswith("OTR")]
    reply = reader.call("GetProducts", SkuSellerList=json.dumps(only_theirs))
    assert reply.ok and reply.body == {"Products": ""}
    every = reader.call("GetProducts")
    mine = [p for p in state["products"] if p["seller_id"] == shared_sandbox.seller_id]
    assert len(as_list(every.body["Products"]["Product"])) == len(mine)


def test_shared_sku_shows_this_sellers_stock(reader: Client, shared_sandbox):
    state = shared_sandbox.state()
    theirs = {
        p["seller_sku"] for p in state["products"] if p["seller_id"] != shared_sandbox.seller_id
    }
    (shared, *_) = [
        p
        for p in state["products"]
        if p["seller_id"] == shared_sandbox.seller_id and p["seller_sku"] in theirs
    ]
    reply = reader.call("GetProducts", SkuSellerList=json.dumps([shared["seller_sku"]]))
    product = reply.body["Products"]["Product"]
    facl = next(u for u in product["BusinessUnits"]["BusinessUnit"] if u["OperatorCode"] == "facl")
    assert int(facl["Stock"]) == shared["stock"]["FACL"]


@pytest.mark.parametrize("value", ["[SKU1]", '{"a": 1}', "[1, 2]", '["a",', "SKU1"])
def test_corrupt_sku_list_is_e070(reader: Client, value: str):
    assert reader.call("GetProducts", SkuSellerList=value).code == "E070"


def test_get_products_paging(reader: Client):
    every = [
        p["SellerSku"] for p in as_list(reader.call("GetProducts").body["Products"]["Product"])
    ]
    pages = []
    for offset in range(0, len(every), 4):
        reply = reader.call("GetProducts", Limit=4, Offset=offset)
        pages += [p["SellerSku"] for p in as_list(reply.body["Products"]["Product"])]
    assert pages == every
    assert reader.call("GetProducts", Limit=5000).code == "E019"
    assert reader.call("GetProducts", Offset="x").code == "E014"


def test_get_failure_reasons(reader: Client, shared_sandbox):
    reply = reader.call("GetFailureReasons", fmt="JSON")
    reasons = as_list(reply.body["Reasons"]["Reason"])
    assert reasons == [
        {"Type": r["type"], "Name": r["name"]} for r in shared_sandbox.state()["failure_reasons"]
    ]
    assert sum(r["Type"] == "canceled" for r in reasons) >= 2


# -- SetStatusToCanceled -------------------------------------------------------------------
def test_cancel_changes_item_and_order(client: Client, seller_center_sandbox):
    sandbox = seller_center_sandbox
    before = sandbox.state()
    target = pick_items(before, sandbox.seller_id)[0]
    reply = client.cancel(target["order_item_id"], "SHORTAGE", ReasonDetail="Sin stock: ñandú")
    assert reply.ok and reply.head["ResponseType"] == "OrderItems"
    body = reply.body["OrderItems"]["OrderItem"]
    assert body == {
        "OrderItemId": str(target["order_item_id"]),
        "PurchaseOrderId": target["purchase_order_id"],
        "PurchaseOrderNumber": target["purchase_order_number"],
        "PackageId": target["package_id"],
    }
    after = sandbox.state()
    order, item = items_by_id(after)[target["order_item_id"]]
    assert item["status"] == "canceled" and item["reason"] == "SHORTAGE"
    assert item["reason_detail"] == "Sin stock: ñandú"
    assert item["updated_at"] > target["updated_at"] and order["updated_at"] == item["updated_at"]
    assert after["cancellations"] == {str(target["order_item_id"]): 1}
    assert sandbox.cancellation_counts() == {target["order_item_id"]: 1}
    # only that item changed
    old_order, _ = items_by_id(before)[target["order_item_id"]]
    assert [i for i in order["items"] if i is not item] == [
        i for i in old_order["items"] if i["order_item_id"] != target["order_item_id"]
    ]
    # GetOrderItems and GetOrders follow
    items = as_list(
        client.call("GetOrderItems", OrderId=order["order_id"]).body["OrderItems"]["OrderItem"]
    )
    seen = next(i for i in items if int(i["OrderItemId"]) == target["order_item_id"])
    assert (seen["Status"], seen["Reason"], seen["ReasonDetail"]) == (
        "canceled",
        "SHORTAGE",
        "Sin stock: ñandú",
    )
    listed = orders(client.call("GetOrders", UpdatedAfter=item["updated_at"], Limit=1000))
    mine = next(o for o in listed if int(o["OrderId"]) == order["order_id"])
    assert "canceled" in as_list(mine["Statuses"]["Status"])
    assert mine["UpdatedAt"] == local(item["updated_at"], order["operator_code"])


def test_second_cancel_is_e028_and_not_applied_again(client: Client, seller_center_sandbox):
    target = pick_items(seller_center_sandbox.state(), seller_center_sandbox.seller_id)[0]
    assert client.cancel(target["order_item_id"]).ok
    reply = client.cancel(target["order_item_id"])
    assert reply.code == "E028"
    assert reply.message == 'E028: It is not possible to set the order to the status "canceled"'
    assert seller_center_sandbox.cancellation_counts() == {target["order_item_id"]: 1}


def test_cancel_json_body_is_an_object(client: Client, seller_center_sandbox):
    target = pick_items(seller_center_sandbox.state(), seller_center_sandbox.seller_id)[0]
    reply = client.call(
        "SetStatusToCanceled",
        "POST",
        "JSON",
        OrderItemId=target["order_item_id"],
        Reason="SHORTAGE",
    )
    assert reply.body["OrderItems"]["OrderItem"]["OrderItemId"] == str(target["order_item_id"])


def test_listed_reasons_are_valid_others_e022(client: Client, seller_center_sandbox):
    state = seller_center_sandbox.state()
    first, second = pick_items(state, seller_center_sandbox.seller_id)[:2]
    assert client.cancel(first["order_item_id"], "Sourcing team couldn't find items").ok
    reply = client.cancel(second["order_item_id"], "Delivery failed")  # a "failed" reason
    assert reply.code == "E022" and reply.message == 'E022: "Delivery failed" Invalid Reason'
    assert client.cancel(second["order_item_id"], "shortage").code == "E022"


@pytest.mark.parametrize("status", ["delivered", "shipped", "ready_to_ship", "canceled"])
def test_non_pending_items_are_e028(client: Client, seller_center_sandbox, status: str):
    target = pick_items(
        seller_center_sandbox.state(), seller_center_sandbox.seller_id, status=status
    )[0]
    assert client.cancel(target["order_item_id"]).code == "E028"
    assert seller_center_sandbox.cancellation_counts() == {}


def test_fulfillment_items_are_e028(client: Client, seller_center_sandbox):
    state = seller_center_sandbox.state()
    target = pick_items(state, seller_center_sandbox.seller_id, fulfillment=True)[0]
    assert client.cancel(target["order_item_id"]).code == "E028"
    assert seller_center_sandbox.state() == state


def test_another_sellers_item_is_e020_and_theirs_to_cancel(client: Client, seller_center_sandbox):
    sandbox = seller_center_sandbox
    other_seller = next(
        s["seller_id"] for s in sandbox.state()["sellers"] if s["seller_id"] != sandbox.seller_id
    )
    target = pick_items(sandbox.state(), other_seller)[0]
    reply = client.cancel(target["order_item_id"])
    assert reply.code == "E020"
    assert reply.message == f'E020: "{target["order_item_id"]}" Invalid Order Item ID'
    other = Client(sandbox.url, OTHER_USER_ID, OTHER_API_KEY)
    assert other.cancel(target["order_item_id"]).ok


@pytest.mark.parametrize("value", ["0", "-1", "abc", "2147483648", "1 OR 1=1", "12.0", "1"])
def test_invalid_or_unknown_item_ids_are_e020(client: Client, value: str):
    reply = client.cancel(value)
    assert reply.code == "E020"
    assert reply.message == f'E020: "{value}" Invalid Order Item ID'


def test_missing_cancel_parameters_are_e001(client: Client):
    reply = client.call("SetStatusToCanceled", "POST", Reason="SHORTAGE")
    assert reply.message == "E001: Parameter OrderItemId is mandatory"
    reply = client.call("SetStatusToCanceled", "POST", OrderItemId="1")
    assert reply.message == "E001: Parameter Reason is mandatory"


def test_concurrent_cancels_of_one_item_apply_once(seller_center_sandbox):
    sandbox = seller_center_sandbox
    target = pick_items(sandbox.state(), sandbox.seller_id)[0]

    def attempt(_: int) -> str | None:
        return (
            Client(sandbox.url, sandbox.user_id, sandbox.api_key)
            .cancel(target["order_item_id"])
            .code
        )

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(16)))
    assert codes.count(None) == 1 and codes.count("E028") == 15
    assert sandbox.cancellation_counts() == {target["order_item_id"]: 1}
