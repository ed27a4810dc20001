"""Business units, shipping types, packages, GetStock, UpdateStock and GetOrders 2.0."""

from __future__ import annotations

import json
import logging

import pytest
import responses
from lxml import etree

from airflow_seller_provider.client.api import order_items_by_order
from airflow_seller_provider.client.models import (
    Order,
    OrderItem,
    combined_shipper,
    who_ships,
)
from airflow_seller_provider.client.parsing import parse_response
from tests.client.helpers import BASE_URL, json_ok, query_of, xml_ok


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fulfillment", "marketplace"),
        ("Own Warehouse", "marketplace"),
        ("own_warehouse", "marketplace"),
        (" OWN   WAREHOUSE ", "marketplace"),
        ("Dropshipping", "seller"),
        ("Cross docking", "seller"),
        ("cross_docking", "seller"),
        ("", "unknown"),
        ("Marketplace Express", "unknown"),
    ],
)
def test_who_ships(value, expected) -> None:
    assert who_ships(value) == expected


def test_an_unknown_shipping_type_is_logged_once(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_seller_provider.client")
    for _ in range(3):
        assert who_ships("Teleport 9000") == "unknown"
    assert sum("Teleport 9000" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("item", "order", "expected"),
    [
        ("Dropshipping", "", "seller"),
        ("", "Own Warehouse", "marketplace"),
        ("Fulfillment", "Own Warehouse", "marketplace"),
        ("Dropshipping", "Cross docking", "seller"),
        ("Dropshipping", "Own Warehouse", "unknown"),  # they disagree: not ours to decide
        ("", "", "unknown"),
    ],
)
def test_item_and_order_shipping_types_combine(item, order, expected) -> None:
    assert combined_shipper(item, order) == expected


MULTI = (
    "<Orders><Order><OrderId>7</OrderId><OrderNumber>n</OrderNumber>"
    "<OperatorCode>faco</OperatorCode><ShippingType>Dropshipping</ShippingType>"
    "<OrderItems><OrderItem><OrderItemId>70</OrderItemId><Sku>A</Sku><Status>pending</Status>"
    "<ShippingType>Dropshipping</ShippingType><PackageId>PK1</PackageId></OrderItem>"
    "<OrderItem><OrderItemId>71</OrderItemId><Sku>B</Sku><Status>pending</Status>"
    "<ShippingType>Dropshipping</ShippingType><PackageId>PK1</PackageId></OrderItem>"
    "</OrderItems></Order></Orders>"
)


def test_items_carry_their_orders_business_unit_and_package() -> None:
    response = parse_response(xml_ok(MULTI, action="GetMultipleOrderItems").encode())
    items = order_items_by_order(response.body)[7]
    assert [(i.order_item_id, i.business_unit, i.package_id) for i in items] == [
        (70, "FACO", "PK1"),
        (71, "FACO", "PK1"),
    ]
    assert {i.shipped_by for i in items} == {"seller"}
    assert not items[0].is_fulfillment


def test_order_reads_operator_code_and_shipping_type() -> None:
    order = Order.from_node(
        {"OrderId": "5", "OperatorCode": " FAPE ", "ShippingType": "Own Warehouse"}
    )
    assert (order.operator_code, order.business_unit, order.shipping_type) == (
        "fape",
        "FAPE",
        "Own Warehouse",
    )
    assert Order.from_node({"OrderId": "5"}).business_unit is None
    assert Order.from_node({"OrderId": "5", "OperatorCode": "xx"}).business_unit is None


def test_a_fulfillment_item_is_the_marketplaces() -> None:
    item = OrderItem.from_node({"OrderItemId": "1", "ShippingType": "Fulfillment"}, 3)
    assert item.is_fulfillment and item.shipped_by == "marketplace"


def test_get_orders_version_2(rsps, client) -> None:
    rsps.add(
        responses.GET,
        BASE_URL,
        body=xml_ok("<Orders/>", action="GetOrders", extra="<TotalCount>0</TotalCount>"),
    )
    assert list(client.iter_orders(updated_after="2026-01-01T00:00:00+00:00", version="2.0")) == []
    assert query_of(rsps.calls[0].request.url)["Version"] == "2.0"
    with pytest.raises(ValueError, match="version"):
        client.iter_orders(updated_after="2026-01-01T00:00:00+00:00", version="3.0")


def test_update_stock_posts_an_xml_body(rsps, client) -> None:
    rsps.add(responses.POST, BASE_URL, body=xml_ok("", action="UpdateStock"))
    client.update_stock({"A-1": 3, "Ñ 2": 0})
    request = rsps.calls[0].request
    assert query_of(request.url)["Action"] == "UpdateStock"
    root = etree.fromstring(request.body)
    assert [(s.findtext("SellerSku"), s.findtext("Quantity")) for s in root.iter("Stock")] == [
        ("A-1", "3"),
        ("Ñ 2", "0"),
    ]


@pytest.mark.parametrize(
    "quantities", [{}, {"A": -1}, {"A": 1.5}, {"A": True}, {f"S{i}": 1 for i in range(501)}]
)
def test_update_stock_refuses_bad_input_before_sending(rsps, client, quantities) -> None:
    with pytest.raises(ValueError):
        client.update_stock(quantities)
    assert not rsps.calls


def test_get_stock_pages(rsps, client) -> None:
    def answer(request):
        query = query_of(request.url)
        offset, limit = int(query["Offset"]), int(query["Limit"])
        skus = ["A", "B", "C"][offset : offset + limit]
        body = {
            "Products": {
                "Product": [
                    {
                        "SellerSku": s,
                        "Warehouses": {"Warehouse": {"OperatorCode": "facl", "Quantity": "-1"}},
                    }
                    for s in skus
                ]
            }
        }
        return 200, {}, json_ok(body, action="GetStock", TotalCount="3")

    rsps.add_callback(responses.GET, BASE_URL, callback=answer)
    rows = list(client.iter_warehouse_stock(["A", "B", "C"], limit=2))
    assert [(r.seller_sku, r.operator_code, r.quantity) for r in rows] == [
        ("A", "facl", -1),
        ("B", "facl", -1),
        ("C", "facl", -1),
    ]
    assert len(rsps.calls) == 2
    assert json.loads(query_of(rsps.calls[0].request.url)["SkuSellerList"]) == ["A", "B", "C"]


def test_a_blank_or_unreadable_stock_is_unknown_not_zero() -> None:
    from airflow_seller_provider.client.models import Product

    node = {
        "SellerSku": "A",
        "BusinessUnits": {
            "BusinessUnit": [
                {"OperatorCode": "facl", "Stock": ""},
                {"OperatorCode": "faco", "Stock": "inf"},
                {"OperatorCode": "fape", "Stock": "-3"},
            ]
        },
    }
    assert Product.from_node(node).stock == {"FAPE": -3}


def test_get_stock_sends_the_skus_in_batches(rsps, client) -> None:
    """Listed SKUs travel in the URL: ``sku_batch_size`` (100) a call, as GetProducts'."""

    def answer(request):
        skus = json.loads(query_of(request.url)["SkuSellerList"])
        body = {
            "Products": {
                "Product": [
                    {
                        "SellerSku": s,
                        "Warehouses": {"Warehouse": {"OperatorCode": "facl", "Quantity": "2"}},
                    }
                    for s in skus
                ]
            }
        }
        return 200, {}, json_ok(body, action="GetStock", TotalCount=str(len(skus)))

    rsps.add_callback(responses.GET, BASE_URL, callback=answer)
    wanted = [f"S{i:03d}" for i in range(250)]
    rows = list(client.iter_warehouse_stock(wanted))
    assert [r.seller_sku for r in rows] == wanted
    sizes = [len(json.loads(query_of(c.request.url)["SkuSellerList"])) for c in rsps.calls]
    assert sizes == [100, 100, 50]
