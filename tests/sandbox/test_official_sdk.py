"""What the official PHP SDK (LinioIT/seller-center-sdk, branch gsc-master) checks in the
values it parses, held against the sandbox's answers.

Its GetProducts factories drop, without a word, a business unit whose Stock is below zero
or whose Price is not above zero, and a whole product whose image is not a valid URL (or
whose SellerSku, Name, Description or ProductId is empty); it takes the product statuses
active, inactive and deleted, the operator codes facl, faco, fape (and famx), and the
product filters of its ``ProductFilters``. It sends GetFailureReasons as a POST. The element
names are covered by ``test_render`` (the real samples are that SDK's fixtures); this module
covers the values. The sandbox README ("The official PHP SDK") names the SDK's files.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_seller_provider.sandbox.store import DEFAULT_PRICE
from airflow_seller_provider.sandbox.testing import Sandbox, run_sandbox

from .helpers import Client, as_list

USER, KEY = "sdk@example.com", "sdk-key"
AWKWARD_SKU = "Zapato ñandú 42/B #1"
STATE: dict[str, Any] = {
    "sellers": [{"seller_id": "S1", "name": "One", "business_unit": "FACL"}],
    "users": [{"user_id": USER, "api_key": KEY, "seller_id": "S1", "role": "admin"}],
    "orders": [],
    "products": [
        {"seller_id": "S1", "seller_sku": AWKWARD_SKU, "quantity": {"FACL": 1}},  # no price
        {"seller_id": "S1", "seller_sku": "OFF", "status": "inactive", "price": "10.00"},
        {"seller_id": "S1", "seller_sku": "GONE", "status": "deleted", "price": "10.00"},
    ],
}
OPERATOR_CODES = {"facl", "faco", "fape"}
PRODUCT_STATUSES = {"active", "inactive", "deleted"}
# RFC 3986 characters (unreserved, reserved and the percent sign): nothing else in a URL.
URL_TEXT = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


@pytest.fixture(scope="module")
def exact() -> Any:
    with run_sandbox(user_id=USER, api_key=KEY, state=copy.deepcopy(STATE)) as sandbox:
        yield sandbox


def products(sandbox: Sandbox, **params: Any) -> list[ET.Element]:
    reply = Client(sandbox.url, sandbox.user_id, sandbox.api_key).call("GetProducts", **params)
    assert reply.ok, reply.message
    return list(ET.fromstring(reply.content).iterfind("Body/Products/Product"))


def refusals(product: ET.Element) -> list[str]:
    """Why that SDK would drop the product or one of its business units (empty: never)."""
    found = []
    for field in ("SellerSku", "Name", "Description", "ProductId"):
        if not (product.findtext(field) or "").strip():
            found.append(f"{field} empty")
    for image in product.iterfind("Images/Image"):
        url = image.text or ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or not URL_TEXT.fullmatch(url):
            found.append(f"image {url!r} not a valid URL")
    for package in ("PackageHeight", "PackageWidth", "PackageLength", "PackageWeight"):
        if Decimal(product.findtext(f"ProductData/{package}") or "0") < 0:
            found.append(f"{package} below zero")
    units = product.findall("BusinessUnits/BusinessUnit")
    if not units:
        found.append("no BusinessUnit")
    for unit in units:
        code = unit.findtext("OperatorCode")
        if code not in OPERATOR_CODES:
            found.append(f"OperatorCode {code!r}")
        if not Decimal(unit.findtext("Price") or "0") > 0:
            found.append(f"{code} Price {unit.findtext('Price')!r} not above 0")
        stock = unit.findtext("Stock") or ""
        if not stock.isdigit():
            found.append(f"{code} Stock {stock!r} not a whole number >= 0")
        if unit.findtext("Status") not in PRODUCT_STATUSES:
            found.append(f"{code} Status {unit.findtext('Status')!r}")
    return found


def test_no_seeded_product_or_business_unit_is_dropped():
    with run_sandbox(seed=5, orders=150) as sandbox:  # oversold SKUs in every unit
        listed = products(sandbox)
        assert listed
        assert {p.findtext("SellerSku"): refusals(p) for p in listed if refusals(p)} == {}


def test_a_loaded_product_without_a_price_or_with_an_awkward_sku_is_not_dropped(exact):
    (product,) = products(exact, SkuSellerList=f'["{AWKWARD_SKU}"]')
    assert refusals(product) == []
    assert product.findtext("BusinessUnits/BusinessUnit/Price") == DEFAULT_PRICE
    (image,) = [i.text for i in product.iterfind("Images/Image")]
    assert image and "%C3%B1" in image and " " not in image  # ñ and spaces percent-encoded


@pytest.mark.parametrize(
    ("name", "skus"),
    [
        ("all", {AWKWARD_SKU, "OFF", "GONE"}),
        ("live", {AWKWARD_SKU}),
        ("inactive", {"OFF"}),
        ("deleted", {"GONE"}),
        ("image-missing", set()),  # every sandbox product has an image
        ("pending", set()),  # and passed quality control (QCStatus approved)
        ("rejected", set()),
        ("sold-out", {"OFF", "GONE"}),  # no unit above 0 (none at all: every unit at 0)
    ],
)
def test_the_product_filters_the_sdk_names(exact, name: str, skus: set[str]):
    assert {p.findtext("SellerSku") for p in products(exact, Filter=name)} == skus


def test_failure_reasons_answer_a_post_as_a_get(exact):
    client = Client(exact.url, USER, KEY)
    got, posted = client.call("GetFailureReasons"), client.call("GetFailureReasons", "POST")
    assert got.ok and posted.ok
    assert got.body == posted.body
    reasons = as_list(posted.body["Reasons"]["Reason"])
    assert reasons and all(r["Type"] and r["Name"] for r in reasons)
