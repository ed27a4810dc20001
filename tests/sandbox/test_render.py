"""Answer shapes: the real samples' element paths, JSON quirks, XML and JSON alike."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from airflow_seller_provider.sandbox.render import to_json, to_xml

from .helpers import Client, pick_items

# The real samples: the client tests' copy in the repository, else the shared reference.
_CANDIDATES = [
    Path(__file__).resolve().parents[1] / "client" / "samples",
    Path("/work/shared/reference/samples"),
]
SAMPLES = next((p for p in _CANDIDATES if (p / "GetOrders.xml").exists()), _CANDIDATES[0])
needs_samples = pytest.mark.skipif(
    not (SAMPLES / "GetOrders.xml").exists(), reason="the real response samples are not here"
)
SINCE = "2000-01-01T00:00:00+00:00"


def paths(element: ET.Element, prefix: str = "") -> set[str]:
    here = f"{prefix}/{element.tag}"
    found = {here}
    for child in element:
        found |= paths(child, here)
    return found


def sample_paths(name: str) -> set[str]:
    return paths(ET.parse(SAMPLES / name).getroot())


def without_timestamp(tree: dict) -> dict:
    kind = next(iter(tree))
    head = {k: v for k, v in tree[kind]["Head"].items() if k != "Timestamp"}
    return {kind: {**tree[kind], "Head": head}}


def calls(state: dict, seller_id: str) -> dict[str, tuple[str, dict[str, str]]]:
    mine = [o for o in state["orders"] if o["seller_id"] == seller_id]
    skus = [p["seller_sku"] for p in state["products"] if p["seller_id"] == seller_id][:3]
    return {
        "GetOrders.xml": ("GetOrders", {"CreatedAfter": SINCE, "Limit": "3"}),
        "GetOrderItems.xml": ("GetOrderItems", {"OrderId": str(mine[0]["order_id"])}),
        "GetMultipleOrderItems.xml": (
            "GetMultipleOrderItems",
            {"OrderIdList": json.dumps([o["order_id"] for o in mine[:3]])},
        ),
        "GetProducts.xml": ("GetProducts", {"SkuSellerList": json.dumps(skus)}),
        "GetFailureReasons.xml": ("GetFailureReasons", {}),
    }


@needs_samples
def test_read_answers_have_every_element_of_the_real_samples(reader: Client, shared_sandbox):
    for sample, (action, params) in calls(shared_sandbox.state(), shared_sandbox.seller_id).items():
        reply = reader.call(action, **params)
        assert reply.ok, reply.message
        ours = paths(ET.fromstring(reply.content))
        theirs = sample_paths(sample)
        if sample == "GetOrders.xml":  # the sample's Head is GetOrderItems'; compare Bodies
            theirs = {p for p in theirs if "/Body" in p}
        missing = {p for p in theirs - ours if not p.endswith("/Imei")}
        assert not missing, f"{sample}: {sorted(missing)}"


@needs_samples
def test_cancel_answers_match_the_samples(client: Client, seller_center_sandbox):
    target = pick_items(seller_center_sandbox.state(), seller_center_sandbox.seller_id)[0]
    success = client.cancel(target["order_item_id"])
    assert paths(ET.fromstring(success.content)) == sample_paths("SetStatusToCanceled.xml")
    failure = client.cancel(target["order_item_id"])
    assert paths(ET.fromstring(failure.content)) == sample_paths("SetStatusToCanceled-E028.xml")
    sample = ET.parse(SAMPLES / "SetStatusToCanceled-E028.xml").getroot()
    assert failure.head["ErrorMessage"] == sample.findtext("Head/ErrorMessage")
    assert failure.head["ErrorCode"] == sample.findtext("Head/ErrorCode") == "28"


def test_xml_and_json_answers_carry_the_same_tree(reader: Client, shared_sandbox):
    for action, params in calls(shared_sandbox.state(), shared_sandbox.seller_id).values():
        as_xml = reader.call(action, fmt="XML", **params)
        as_json = reader.call(action, fmt="JSON", **params)
        assert without_timestamp(as_xml.tree) == without_timestamp(as_json.tree), action
    errors = [reader.call("GetOrders", fmt=f) for f in ("XML", "JSON")]
    assert errors[0].tree == errors[1].tree


def test_every_json_value_is_a_string(reader: Client, shared_sandbox):
    def leaves(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from leaves(value)
        elif isinstance(node, list):
            for value in node:
                yield from leaves(value)
        else:
            yield node

    for action, params in calls(shared_sandbox.state(), shared_sandbox.seller_id).values():
        reply = reader.call(action, fmt="JSON", **params)
        assert all(isinstance(v, str) for v in leaves(reply.tree)), action
        assert not any(isinstance(v, list) and len(v) < 2 for v in _lists(reply.tree))


def _lists(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _lists(value)
    elif isinstance(node, list):
        yield node
        for value in node:
            yield from _lists(value)


def test_json_quirks():
    assert to_json({"A": {"B": ["x"]}}) == {"A": {"B": "x"}}
    assert to_json({"A": {"B": ["x", "y"]}}) == {"A": {"B": ["x", "y"]}}
    assert to_json({"A": {"B": []}}) == {"A": ""}
    assert to_json({"A": None, "B": {}}) == {"A": "", "B": ""}
    assert to_json({"A": {"B": [{"C": 1}]}}) == {"A": {"B": {"C": "1"}}}


def test_xml_rendering():
    assert to_xml("R", {"A": {"B": ["x", "y"]}, "C": None, "D": {"E": []}}) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<R><A><B>x</B><B>y</B></A><C/><D/></R>'
    )
    assert to_xml("R", {"A": "<&>"}).endswith("<A>&lt;&amp;&gt;</A></R>")
    assert to_xml("R", {"A": "a\x01b\x00"}).endswith("<A>a\ufffdb\ufffd</A></R>")


@pytest.mark.parametrize("fmt", ["XML", "JSON"])
def test_awkward_text_survives_both_formats(client: Client, seller_center_sandbox, fmt: str):
    target = pick_items(seller_center_sandbox.state(), seller_center_sandbox.seller_id)[0]
    detail = "ñ <b>&amp; \"quotes\" 'single' \x07 ✓ 𝄞"
    assert client.cancel(target["order_item_id"], ReasonDetail=detail).ok
    reply = client.call("GetOrderItems", fmt=fmt, OrderId=target["order_id"])
    items = reply.body["OrderItems"]["OrderItem"]
    item = next(
        i
        for i in (items if isinstance(items, list) else [items])
        if i["OrderItemId"] == str(target["order_item_id"])
    )
    expected = detail if fmt == "JSON" else detail.replace("\x07", "\ufffd")
    assert item["ReasonDetail"] == expected
