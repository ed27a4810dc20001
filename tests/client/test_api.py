"""SellerCenterClient: construction checks, the calls, paging, batching, both formats."""

from __future__ import annotations

import copy
import json
import logging
import pickle
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import responses

from airflow_seller_provider.client import SellerCenterClient
from airflow_seller_provider.client.errors import (
    InvalidRequestError,
    PagingLimitError,
    SellerCenterError,
)
from airflow_seller_provider.client.models import CancelResult, OrderItem, Reason
from tests.client.helpers import (
    API_KEY,
    BASE_URL,
    USER_ID,
    json_error,
    json_ok,
    order_item_xml,
    order_xml,
    query_of,
    xml_error,
    xml_ok,
)

# ------------------------------------------------------------- construction


def build(**overrides) -> SellerCenterClient:
    kwargs = {"base_url": BASE_URL, "user_id": USER_ID, "api_key": API_KEY}
    kwargs.update(overrides)
    return SellerCenterClient(**kwargs)


@pytest.mark.parametrize(
    ("overrides", "kind", "words"),
    [
        ({"base_url": "ftp://sellercenter.test/"}, ValueError, "http(s)"),
        ({"base_url": "sellercenter.test"}, ValueError, "http(s)"),
        ({"base_url": "https://"}, ValueError, "http(s)"),
        ({"base_url": ""}, ValueError, "base_url"),
        ({"base_url": None}, ValueError, "base_url"),
        ({"base_url": "https://h.test/?Action=x"}, ValueError, "query"),
        ({"base_url": "https://h.test:99999/"}, ValueError, "port"),
        ({"user_id": ""}, ValueError, "user_id"),
        ({"user_id": "  "}, ValueError, "user_id"),
        ({"user_id": None}, TypeError, "user_id"),
        ({"api_key": ""}, ValueError, "api_key"),
        ({"api_key": 12345}, TypeError, "api_key"),
        ({"response_format": "YAML"}, ValueError, "XML, JSON"),
        ({"response_format": None}, ValueError, "response_format"),
        ({"business_unit": "FAAR"}, ValueError, "FACL, FACO, FAPE"),
        ({"seller_id": "A/B"}, ValueError, "seller_id"),
        ({"integration": ""}, ValueError, "integration"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"timeout": "abc"}, ValueError, "timeout"),
        ({"timeout": float("inf")}, ValueError, "timeout"),
        ({"timeout": True}, ValueError, "timeout"),
        ({"rate_limit": 0}, ValueError, "rate_limit"),
        ({"rate_limit": "abc"}, ValueError, "rate_limit"),
        ({"max_retries": 0}, ValueError, "max_retries"),
        ({"max_retries": 2.5}, TypeError, "max_retries"),
        ({"max_retries": True}, TypeError, "max_retries"),
        ({"max_retry_time": 0}, ValueError, "max_retry_time"),
        ({"backoff_base": 5, "backoff_max": 1}, ValueError, "backoff_max"),
        ({"page_size": 0}, ValueError, "page_size"),
        ({"order_batch_size": -3}, ValueError, "order_batch_size"),
        ({"sku_batch_size": "x"}, TypeError, "sku_batch_size"),
        ({"max_response_bytes": 0}, ValueError, "max_response_bytes"),
        ({"session": object()}, TypeError, "session"),
    ],
)
def test_bad_construction_is_refused_clearly(overrides, kind, words) -> None:
    with pytest.raises(kind) as info:
        build(**overrides)
    assert words in str(info.value)
    assert API_KEY not in str(info.value)


def test_a_wrong_api_key_is_never_quoted() -> None:
    with pytest.raises(TypeError) as info:
        build(api_key=b"secret-bytes-key")
    assert "secret-bytes-key" not in str(info.value)


def test_credentials_in_the_base_url_are_refused_without_echo() -> None:
    with pytest.raises(ValueError) as info:
        build(base_url="https://me:hunter2@h.test/")
    assert "hunter2" not in str(info.value)


def test_values_are_normalised() -> None:
    client = build(
        base_url=" HTTPS://Sellercenter.test ",
        response_format="json",
        business_unit="fape",
        timeout="12.5",
        rate_limit="3",
        max_retries="4",
        seller_id="  ",
    )
    assert client.base_url == "https://Sellercenter.test/"
    assert client.response_format == "JSON"
    assert client.business_unit == "FAPE"
    assert client.timeout == 12.5 and client.rate_limit == 3.0 and client.max_retries == 4
    assert client.seller_id is None
    assert client.transport.limiter is not None and client.transport.limiter.rate == 3.0
    assert build(base_url="http://127.0.0.1:8080/api").base_url == "http://127.0.0.1:8080/api"


def test_plain_http_warns_unless_loopback(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_seller_provider.client"):
        build(base_url="http://127.0.0.1:8080/", seller_id="S", business_unit="FACL")
        build(base_url="http://localhost/", seller_id="S", business_unit="FACL")
        assert not caplog.records
        build(base_url="http://sellercenter.test/", seller_id="S", business_unit="FACL")
    assert [r.getMessage() for r in caplog.records if "E010" in r.getMessage()]


def test_defaults() -> None:
    client = build()
    assert (client.response_format, client.business_unit, client.integration) == (
        "XML",
        None,
        "PROPIA",
    )
    assert (client.timeout, client.max_retries, client.rate_limit) == (30.0, 5, None)
    assert (client.max_retry_time, client.backoff_base, client.backoff_max) == (120.0, 0.5, 30.0)
    assert (client.page_size, client.order_batch_size, client.sku_batch_size) == (1000, 100, 100)
    assert client.max_response_bytes == 10 * 1024 * 1024


def test_repr_shows_the_connection_but_never_the_key() -> None:
    client = build(business_unit="FACL")
    text = repr(client)
    assert text == (
        "SellerCenterClient(base_url='https://sellercenter.test/', user_id='look@me.com', "
        "format='XML', business_unit='FACL')"
    )
    assert API_KEY not in repr(client.transport) and API_KEY not in str(vars(client).keys())


def test_the_client_cannot_be_pickled_or_copied() -> None:
    client = build()
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client)
    with pytest.raises(TypeError):
        copy.deepcopy(client)


def test_context_manager_closes_the_session(monkeypatch) -> None:
    client = build()
    closed: list[bool] = []
    monkeypatch.setattr(client.transport.session, "close", lambda: closed.append(True))
    with client as inside:
        assert inside is client
        assert closed == []
    assert closed == [True]


# ---------------------------------------------------------------- bad input


def no_request(rsps: responses.RequestsMock) -> None:
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        (lambda c: c.cancel_order_item("abc"), ValueError),
        (lambda c: c.cancel_order_item(-1), ValueError),
        (lambda c: c.cancel_order_item(0), ValueError),
        (lambda c: c.cancel_order_item(2**31), ValueError),
        (lambda c: c.cancel_order_item(None), TypeError),
        (lambda c: c.cancel_order_item(1.5), TypeError),
        (lambda c: c.cancel_order_item(True), TypeError),
        (lambda c: c.cancel_order_item(5, reason=""), ValueError),
        (lambda c: c.cancel_order_item(5, reason="   "), ValueError),
        (lambda c: c.cancel_order_item(5, reason=None), TypeError),
        (lambda c: c.cancel_order_item(5, reason="x" * 256), ValueError),
        (lambda c: c.cancel_order_item(5, reason_detail="x" * 1001), ValueError),
        (lambda c: c.cancel_order_item(5, reason_detail=42), TypeError),
        (lambda c: c.get_order_items("1.5"), ValueError),
        (lambda c: c.get_multiple_order_items([1, "x"]), ValueError),
        (lambda c: c.get_multiple_order_items("123"), TypeError),
        (lambda c: c.get_multiple_order_items(123), TypeError),
        (lambda c: c.get_products(["ok", ""]), ValueError),
        (lambda c: c.get_products("SKU-1"), TypeError),
        (lambda c: c.get_stock([1]), TypeError),
        (lambda c: c.iter_orders(), ValueError),
        (lambda c: c.iter_orders(created_after="yesterday"), ValueError),
        (lambda c: c.iter_orders(created_after=12), TypeError),
        (lambda c: c.iter_orders(created_after=date(2024, 1, 1), status="lost"), ValueError),
        (lambda c: c.iter_orders(updated_after=date(2024, 1, 1), sort_by="price"), ValueError),
        (lambda c: c.iter_orders(updated_after=date(2024, 1, 1), sort_direction="UP"), ValueError),
        (lambda c: c.iter_orders(updated_after=date(2024, 1, 1), limit=0), ValueError),
        (lambda c: c.iter_orders(updated_after=date(2024, 1, 1), max_pages=0), ValueError),
        (
            lambda c: c.iter_orders(
                created_after=datetime(2024, 2, 1), created_before=datetime(2024, 1, 1)
            ),
            ValueError,
        ),
        (lambda c: c.call("Get Orders"), ValueError),
        (lambda c: c.call("GetOrders", {"Signature": "x"}), ValueError),
        (lambda c: c.call("GetOrders", {"Timestamp": "x"}), ValueError),
        (lambda c: c.call("GetOrders", {"Flag": True}), TypeError),
        (lambda c: c.call("GetOrders", {"List": [1]}), TypeError),
        (lambda c: c.call("GetOrders", {"Bad": "\udc80"}), ValueError),
        (lambda c: c.call("GetOrders", ["Action"]), TypeError),
        (lambda c: c.call("GetOrders", method="DELETE"), ValueError),
    ],
)
def test_bad_input_is_refused_before_any_request(rsps, client, call, kind) -> None:
    rsps.add(responses.GET, BASE_URL, body=xml_ok())
    rsps.add(responses.POST, BASE_URL, body=xml_ok())
    with pytest.raises(kind) as info:
        call(client)
    no_request(rsps)
    assert API_KEY not in str(info.value)


def test_bad_id_message_names_the_value_and_what_to_do(client) -> None:
    with pytest.raises(ValueError) as info:
        client.cancel_order_item("abc")
    assert str(info.value) == (
        "order item id 'abc' is not a positive 32-bit integer; "
        "pass the OrderItemId from GetOrderItems"
    )


def test_get_stock_needs_no_business_unit_on_the_client(rsps, make_client) -> None:
    # Each order uses its own country's stock: the client's unit only names the User-Agent.
    client = make_client(business_unit=None)
    rsps.add(
        responses.GET,
        BASE_URL,
        body=xml_ok(
            "<Products>" + product_xml("SKU-1", [("fape", 2)]) + "</Products>",
            action="GetProducts",
        ),
    )
    assert client.get_stock(["SKU-1"]) == {("FAPE", "SKU-1"): 2}


# --------------------------------------------------------------- call()


def test_call_sends_strings_and_returns_the_response(rsps, client) -> None:
    rsps.add(responses.GET, BASE_URL, body=xml_ok("<Brands/>", action="GetBrands"))
    response = client.call(
        "GetBrands", {"Limit": 10, "Skip": None, "At": datetime(2024, 1, 2, 3, 4, 5)}
    )
    assert response.action == "GetBrands" and response.body == {"Brands": ""}
    sent = query_of(rsps.calls[0].request.url)
    assert sent["Limit"] == "10" and "Skip" not in sent
    assert sent["At"] == "2024-01-02T03:04:05+00:00"


def test_call_post(rsps, client) -> None:
    rsps.add(responses.POST, BASE_URL, body=xml_ok(action="Something"))
    client.call("Something", method="post")
    assert rsps.calls[0].request.method == "POST"


# ------------------------------------------------------------------- paging


def orders_page(ids: list[int], total: int | None = None) -> str:
    extra = f"<TotalCount>{total}</TotalCount>" if total is not None else ""
    body = "<Orders>" + "".join(order_xml(i) for i in ids) + "</Orders>" if ids else ""
    return xml_ok(body, action="GetOrders", kind="Orders", extra=extra)


def serve_orders(
    rsps, count: int, *, total: bool = False, ignore_offset: bool = False, cap: int = 10**6
):
    """A GetOrders endpoint over orders 1..count honouring Limit (up to ``cap``)/Offset."""

    def answer(request):
        query = query_of(request.url)
        limit, offset = min(int(query["Limit"]), cap), int(query["Offset"])
        if ignore_offset:
            offset = 0
        ids = list(range(1, count + 1))[offset : offset + limit]
        return 200, {}, orders_page(ids, count if total else None)

    rsps.add_callback(responses.GET, BASE_URL, callback=answer)


def sent_pages(rsps) -> list[tuple[str, str]]:
    return [(q["Limit"], q["Offset"]) for q in (query_of(c.request.url) for c in rsps.calls)]


def test_paging_until_a_short_page(rsps, client, caplog) -> None:
    serve_orders(rsps, 7)
    with caplog.at_level(logging.INFO, logger="airflow_seller_provider.client"):
        orders = list(client.iter_orders(created_after=datetime(2024, 1, 1), limit=3))
    assert [o.order_id for o in orders] == list(range(1, 8))
    assert sent_pages(rsps) == [("3", "0"), ("3", "3"), ("3", "6")]
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("GetOrders")]
    assert progress[-1] == "GetOrders: page 3 read, 7 orders so far"
    assert len(progress) == 3


def test_paging_stops_on_an_empty_page(rsps, client) -> None:
    serve_orders(rsps, 6)
    orders = list(client.iter_orders(created_after=datetime(2024, 1, 1), limit=3))
    assert len(orders) == 6
    assert sent_pages(rsps) == [("3", "0"), ("3", "3"), ("3", "6")]


def test_paging_stops_at_total_count(rsps, client) -> None:
    serve_orders(rsps, 6, total=True)
    orders = list(client.iter_orders(created_after=datetime(2024, 1, 1), limit=3))
    assert len(orders) == 6
    assert sent_pages(rsps) == [("3", "0"), ("3", "3")]


def test_paging_goes_on_when_the_server_caps_limit_below_total_count(rsps, client) -> None:
    serve_orders(rsps, 7, total=True, cap=2)  # asked for 5 a page, given 2: not the end
    orders = list(client.iter_orders(created_after=datetime(2024, 1, 1), limit=5))
    assert [o.order_id for o in orders] == list(range(1, 8))
    assert sent_pages(rsps) == [("5", "0"), ("5", "2"), ("5", "4"), ("5", "6")]


def test_paging_is_bounded_by_max_pages(rsps, client) -> None:
    serve_orders(rsps, 3, ignore_offset=True)  # a server that ignores Offset: endless pages
    orders = client.iter_orders(created_after=datetime(2024, 1, 1), limit=3, max_pages=4)
    with pytest.raises(PagingLimitError) as info:
        list(orders)
    assert len(rsps.calls) == 4
    assert "max_pages" in str(info.value) and "GetOrders" in str(info.value)


def test_paging_default_limit_is_the_page_size(rsps, make_client) -> None:
    client = make_client(page_size=2)
    serve_orders(rsps, 3)
    assert len(list(client.iter_orders(updated_after=datetime(2024, 1, 1)))) == 3
    assert sent_pages(rsps) == [("2", "0"), ("2", "2")]


def test_iter_orders_sends_filters_in_utc_iso8601(rsps, client) -> None:
    serve_orders(rsps, 0)
    chile = timezone(timedelta(hours=-4))
    list(
        client.iter_orders(
            status="Pending",
            created_after=datetime(2024, 5, 1, 8, 30, tzinfo=chile),
            created_before="2024-05-02T00:00:00Z",
            updated_after=datetime(2024, 5, 1, 10, 0),  # naive: UTC
            updated_before=date(2024, 5, 3),
            sort_by="created_at",
            sort_direction="desc",
        )
    )
    sent = query_of(rsps.calls[0].request.url)
    assert sent["CreatedAfter"] == "2024-05-01T12:30:00+00:00"
    assert sent["CreatedBefore"] == "2024-05-02T00:00:00+00:00"
    assert sent["UpdatedAfter"] == "2024-05-01T10:00:00+00:00"
    assert sent["UpdatedBefore"] == "2024-05-03T00:00:00+00:00"
    assert (sent["Status"], sent["SortBy"], sent["SortDirection"]) == (
        "pending",
        "created_at",
        "DESC",
    )


def test_iter_orders_parses_models(rsps, client) -> None:
    serve_orders(rsps, 1)
    (order,) = client.iter_orders(created_after=datetime(2024, 1, 1))
    assert order.order_id == 1 and order.order_number == "N1"
    assert order.statuses == ("pending",)
    assert order.created_at == datetime(2024, 5, 1, 10, 0)


# ------------------------------------------------------------------ batching


def multi_answer(order_ids: list[int], *, fmt: str = "XML") -> str:
    if fmt == "JSON":
        orders = [
            {
                "OrderId": str(oid),
                "OrderItems": {
                    "OrderItem": {"OrderItemId": str(oid * 10), "Sku": "A", "Status": "pending"}
                },
            }
            for oid in order_ids
        ]
        body = {"Orders": {"Order": orders[0] if len(orders) == 1 else orders}} if orders else ""
        return json_ok(body, action="GetMultipleOrderItems")
    inner = "".join(
        f"<Order><OrderId>{oid}</OrderId><OrderItems>{order_item_xml(oid * 10, oid)}"
        f"{order_item_xml(oid * 10 + 1, oid)}</OrderItems></Order>"
        for oid in order_ids
    )
    return xml_ok(f"<Orders>{inner}</Orders>", action="GetMultipleOrderItems")


def id_lists(rsps) -> list[str]:
    return [query_of(c.request.url)["OrderIdList"] for c in rsps.calls]


def serve_multiple(rsps, *, max_batch: int | None = None, known=None, fmt="XML"):
    def answer(request):
        ids = json.loads(query_of(request.url)["OrderIdList"])
        if max_batch is not None and len(ids) > max_batch:
            body = xml_error(38, "E038: Too many orders were requested")
            return 200, {}, body
        found = [i for i in ids if known is None or i in known]
        if not found:
            return 200, {}, xml_error(39, "E039: No orders were found")
        return 200, {}, multi_answer(found, fmt=fmt)

    rsps.add_callback(responses.GET, BASE_URL, callback=answer)


def test_multiple_order_items_batches_and_dedups(rsps, make_client) -> None:
    client = make_client(order_batch_size=2)
    serve_multiple(rsps)
    result = client.get_multiple_order_items([5, "6", 5, 7, " 8 "])
    assert id_lists(rsps) == ["[5,6]", "[7,8]"]
    assert sorted(result) == [5, 6, 7, 8]
    assert [i.order_item_id for i in result[7]] == [70, 71]
    assert all(isinstance(i, OrderItem) and i.order_id == 7 for i in result[7])


def test_multiple_order_items_split_on_e038(rsps, make_client, caplog) -> None:
    client = make_client(order_batch_size=8)
    serve_multiple(rsps, max_batch=3)
    ids = list(range(1, 9))
    with caplog.at_level(logging.INFO, logger="airflow_seller_provider.client"):
        result = client.get_multiple_order_items(ids)
    assert sorted(result) == ids
    sent = [json.loads(x) for x in id_lists(rsps)]
    assert [len(x) for x in sent] == [8, 4, 2, 2, 2, 2]
    assert sorted(i for batch in sent if len(batch) <= 3 for i in batch) == ids
    assert any("E038" in r.getMessage() for r in caplog.records)


def test_e038_on_a_single_order_is_raised(rsps, make_client) -> None:
    client = make_client(order_batch_size=4)
    serve_multiple(rsps, max_batch=0)
    with pytest.raises(InvalidRequestError) as info:
        client.get_multiple_order_items([1, 2, 3])
    assert info.value.code == "E038"
    assert [len(json.loads(x)) for x in id_lists(rsps)] == [3, 1]


def test_missing_orders_are_absent_and_e039_is_empty(rsps, make_client) -> None:
    client = make_client(order_batch_size=2)
    serve_multiple(rsps, known={1, 4})
    result = client.get_multiple_order_items([1, 2, 3, 5, 4])
    assert sorted(result) == [1, 4]
    assert id_lists(rsps) == ["[1,2]", "[3,5]", "[4]"]


def test_multiple_order_items_in_json_with_one_child_quirks(rsps, make_client) -> None:
    client = make_client(response_format="JSON", order_batch_size=5)
    serve_multiple(rsps, fmt="JSON")
    result = client.get_multiple_order_items([3])
    assert [i.order_item_id for i in result[3]] == [30]
    assert query_of(rsps.calls[0].request.url)["Format"] == "JSON"


def test_no_ids_means_no_request(rsps, client) -> None:
    assert client.get_multiple_order_items([]) == {}
    assert client.get_stock([]) == {}
    no_request(rsps)


def test_other_errors_in_a_batch_are_raised(rsps, client) -> None:
    rsps.add(responses.GET, BASE_URL, body=xml_error(56, "E056: Invalid OrderIdList"))
    with pytest.raises(InvalidRequestError) as info:
        client.get_multiple_order_items([1])
    assert info.value.code == "E056"


def test_get_order_items(rsps, client) -> None:
    body = "<OrderItems>" + order_item_xml(11, 9) + "</OrderItems>"
    rsps.add(responses.GET, BASE_URL, body=xml_ok(body, action="GetOrderItems"))
    (item,) = client.get_order_items("9")
    assert (item.order_item_id, item.order_id, item.sku, item.status) == (11, 9, "SKU-1", "pending")
    assert query_of(rsps.calls[0].request.url)["OrderId"] == "9"


def test_get_order_items_of_an_empty_order(rsps, make_client) -> None:
    client = make_client(response_format="JSON")
    rsps.add(responses.GET, BASE_URL, body=json_ok({"OrderItems": ""}, action="GetOrderItems"))
    assert client.get_order_items(9) == []


# ------------------------------------------------------------------ products


def product_xml(sku: str, units: list[tuple[str, int]]) -> str:
    bus = "".join(
        f"<BusinessUnit><BusinessUnit>Falabella</BusinessUnit><OperatorCode>{code}</OperatorCode>"
        f"<Stock>{stock}</Stock><Status>active</Status></BusinessUnit>"
        for code, stock in units
    )
    return (
        f"<Product><SellerSku>{sku}</SellerSku><Name>n</Name>"
        f"<BusinessUnits>{bus}</BusinessUnits></Product>"
    )


CATALOGUE = {
    "A": [("facl", 5), ("faco", 7)],
    "B": [("FACL", 0)],
    "C": [("fape", 3)],
    "Ñ 1": [("facl", 2)],
}


def serve_products(rsps):
    def answer(request):
        query = query_of(request.url)
        skus = json.loads(query["SkuSellerList"])
        assert int(query["Limit"]) == len(skus)
        found = [product_xml(s, CATALOGUE[s]) for s in skus if s in CATALOGUE]
        body = f"<Products>{''.join(found)}</Products>" if found else "<Products/>"
        return 200, {}, xml_ok(body, action="GetProducts")

    rsps.add_callback(responses.GET, BASE_URL, callback=answer)


def test_get_stock_of_every_business_unit(rsps, make_client) -> None:
    client = make_client(business_unit="facl", sku_batch_size=2)
    serve_products(rsps)
    stock = client.get_stock(["A", "B", "C", "Ñ 1", "UNKNOWN", "A"])
    # Every unit each product has, whatever the client's own; UNKNOWN is absent, not zero.
    assert stock == {
        ("FACL", "A"): 5,
        ("FACO", "A"): 7,
        ("FACL", "B"): 0,
        ("FAPE", "C"): 3,
        ("FACL", "Ñ 1"): 2,
    }
    lists = [json.loads(query_of(c.request.url)["SkuSellerList"]) for c in rsps.calls]
    assert [len(x) for x in lists] == [2, 2, 1]
    assert sorted(s for x in lists for s in x) == sorted(["A", "B", "C", "Ñ 1", "UNKNOWN"])


def test_sku_list_is_sent_as_json_array_text(rsps, client) -> None:
    serve_products(rsps)
    client.get_products(['quote"d', "Ñ 1"])
    assert query_of(rsps.calls[0].request.url)["SkuSellerList"] == '["quote\\"d","Ñ 1"]'


def test_get_products_in_json(rsps, make_client) -> None:
    client = make_client(response_format="JSON", business_unit="FACO")
    body = {
        "Products": {
            "Product": {
                "SellerSku": "A",
                "Name": "n",
                "BusinessUnits": {"BusinessUnit": {"OperatorCode": "faco", "Stock": "4"}},
            }
        }
    }
    rsps.add(responses.GET, BASE_URL, body=json_ok(body, action="GetProducts"))
    assert client.get_stock(["A"]) == {("FACO", "A"): 4}


def test_negative_stock_is_kept(rsps, client) -> None:
    # Seller Center's Stock excludes reserved units: below zero is a shortage, not noise.
    rsps.add(
        responses.GET,
        BASE_URL,
        body=xml_ok(
            "<Products>" + product_xml("A", [("facl", -2)]) + "</Products>", action="GetProducts"
        ),
    )
    assert client.get_stock(["A"]) == {("FACL", "A"): -2}


# ------------------------------------------------------------ reasons, cancel


def test_get_failure_reasons(rsps, client) -> None:
    body = (
        "<Reasons><Reason><Type>canceled</Type><Name>Wrong address</Name></Reason>"
        "<Reason><Type>failed</Type><Name>Lost</Name></Reason></Reasons>"
    )
    rsps.add(responses.GET, BASE_URL, body=xml_ok(body, action="GetFailureReasons"))
    assert client.get_failure_reasons() == [
        Reason("canceled", "Wrong address"),
        Reason("failed", "Lost"),
    ]


def test_cancel_order_item(rsps, client) -> None:
    body = (
        "<OrderItems><OrderItem><OrderItemId>6750999</OrderItemId><PurchaseOrderId>1"
        "</PurchaseOrderId><PurchaseOrderNumber>PO-1</PurchaseOrderNumber><PackageId>P"
        "</PackageId></OrderItem></OrderItems>"
    )
    rsps.add(responses.POST, BASE_URL, body=xml_ok(body, action="SetStatusToCanceled"))
    result = client.cancel_order_item("6750999", " SHORTAGE ", "sin stock & más")
    assert result == CancelResult(6750999, "1", "PO-1", "P")
    sent = query_of(rsps.calls[0].request.url)
    assert sent["OrderItemId"] == "6750999"
    assert sent["Reason"] == "SHORTAGE"
    assert sent["ReasonDetail"] == "sin stock & más"


@pytest.mark.parametrize("fmt", ["XML", "JSON"])
def test_cancel_with_an_empty_success_body(rsps, make_client, fmt) -> None:
    client = make_client(response_format=fmt)
    body = xml_ok(action="SetStatusToCanceled") if fmt == "XML" else json_ok("")
    rsps.add(responses.POST, BASE_URL, body=body)
    assert client.cancel_order_item(42) == CancelResult(42)
    assert "ReasonDetail" not in query_of(rsps.calls[0].request.url)


def test_cancel_error_in_json(rsps, make_client) -> None:
    client = make_client(response_format="JSON")
    rsps.add(
        responses.POST,
        BASE_URL,
        body=json_error("20", 'E020: "42" Invalid Order Item ID', "SetStatusToCanceled"),
        status=400,
    )
    with pytest.raises(SellerCenterError) as info:
        client.cancel_order_item(42)
    assert info.value.code == "E020" and info.value.http_status == 400
    assert "SetStatusToCanceled" in str(info.value)


def test_datetime_helpers_reject_naive_string_ranges_consistently(rsps, client) -> None:
    serve_orders(rsps, 0)
    list(client.iter_orders(created_after="2024-05-01", created_before="2024-05-01T00:00:01"))
    sent = query_of(rsps.calls[0].request.url)
    assert sent["CreatedAfter"] == "2024-05-01T00:00:00+00:00"
    assert datetime.fromisoformat(sent["CreatedBefore"]) == datetime(
        2024, 5, 1, 0, 0, 1, tzinfo=UTC
    )
