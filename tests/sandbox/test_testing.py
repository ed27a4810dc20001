"""The helpers users import: run_sandbox, the Sandbox handle, the fixture, the endpoints."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests

from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import Client, pick_items


@pytest.mark.seller_center_sandbox(orders=12, seed=9)
def test_the_fixture_takes_options_from_its_marker(seller_center_sandbox):
    state = seller_center_sandbox.state()
    mine = [o for o in state["orders"] if o["seller_id"] == seller_center_sandbox.seller_id]
    assert len(mine) == 12


def test_the_handle(seller_center_sandbox):
    sandbox = seller_center_sandbox
    assert sandbox.url.startswith("http://127.0.0.1:") and sandbox.url.endswith("/")
    assert (sandbox.user_id, sandbox.api_key) == ("sandbox@example.com", "sandbox-api-key")
    assert sandbox.api_key not in repr(sandbox)
    assert sandbox.business_unit == "FACL"
    state = sandbox.state()
    state["orders"].clear()  # a copy: the sandbox is untouched
    assert sandbox.state()["orders"]


def test_airflow_connection_forms(seller_center_sandbox):
    sandbox = seller_center_sandbox
    conn = json.loads(sandbox.airflow_conn_json({"rate_limit": 30, "format": "JSON"}))
    assert conn == {
        "conn_type": "seller_center",
        "host": sandbox.url,
        "login": sandbox.user_id,
        "password": sandbox.api_key,
        "extra": {
            "seller_id": sandbox.seller_id,
            "business_unit": "FACL",
            "rate_limit": 30,
            "format": "JSON",
        },
    }
    uri = urlsplit(sandbox.connection_uri())
    assert uri.scheme == "seller-center"
    assert unquote(uri.username) == sandbox.user_id and unquote(uri.password) == sandbox.api_key
    assert unquote(uri.hostname) == sandbox.url
    assert dict(parse_qsl(uri.query)) == {"seller_id": sandbox.seller_id, "business_unit": "FACL"}


def test_add_user_for_another_seller(seller_center_sandbox):
    sandbox = seller_center_sandbox
    state = sandbox.state()
    other = next(s["seller_id"] for s in state["sellers"] if s["seller_id"] != sandbox.seller_id)
    sandbox.add_user("boss@other.example", "boss-key", role="admin", seller_id=other)
    target = pick_items(state, other)[0]["order_item_id"]
    assert Client(sandbox.url, "boss@other.example", "boss-key").cancel(target).ok
    with pytest.raises(ValueError):
        sandbox.add_user("x@example.com", "k", role="root")


def test_run_sandbox_with_an_exact_state():
    state = {
        "sellers": [{"seller_id": "S1", "name": "One", "business_unit": "FACO"}],
        "users": [{"user_id": "me@x.y", "api_key": "key", "seller_id": "S1", "role": "admin"}],
        "orders": [
            {
                "order_id": 10,
                "seller_id": "S1",
                "created_at": "2024-05-01 10:00:00",
                "items": [{"order_item_id": 100, "sku": "A", "status": "pending"}],
            }
        ],
        "products": [{"seller_id": "S1", "seller_sku": "A", "stock": {"FACO": 0}}],
    }
    with run_sandbox(user_id="me@x.y", api_key="key", state=state) as sandbox:
        assert sandbox.business_unit == "FACO"
        assert json.loads(sandbox.airflow_conn_json())["extra"]["business_unit"] == "FACO"
        client = Client(sandbox.url, "me@x.y", "key")
        reply = client.call("GetOrders", CreatedAfter="2024-05-01 10:00:00")
        assert reply.body["Orders"]["Order"]["OrderId"] == "10"
        assert client.cancel(100).ok
        assert sandbox.cancellation_counts() == {100: 1}


def test_inspection_endpoints(seller_center_sandbox, client: Client):
    sandbox = seller_center_sandbox
    base = f"{sandbox.url}_sandbox"
    assert requests.get(f"{base}/state", timeout=5).json() == sandbox.state()
    target = pick_items(sandbox.state(), sandbox.seller_id)[0]["order_item_id"]
    assert client.cancel(target).ok
    assert client.cancel(target).code == "E028"
    assert requests.get(f"{base}/cancellations", timeout=5).json() == {str(target): 1}
    log = requests.get(f"{base}/requests", timeout=5).json()
    assert [(e["action"], e["method"], e["verdict"]) for e in log] == [
        ("SetStatusToCanceled", "POST", "ok"),
        ("SetStatusToCanceled", "POST", "E028"),
    ]
    assert log == sandbox.requests_log()
    entry = log[0]
    assert entry["user_id"] == sandbox.user_id and entry["http_status"] == 200
    assert entry["params"]["OrderItemId"] == str(target) and "Signature" not in entry["params"]
    assert isinstance(entry["time"], float)

    assert requests.delete(f"{base}/requests", timeout=5).status_code == 200
    assert sandbox.requests_log() == []
    response = requests.post(f"{base}/faults", json={"rate_limit": 1}, timeout=5)
    assert response.status_code == 200 and sandbox.server.limiter.rate == 1
    assert requests.post(f"{base}/faults", json={"speed": 1}, timeout=5).status_code == 400
    response = requests.post(
        f"{base}/users", json={"user_id": "ro@x.y", "api_key": "ro"}, timeout=5
    )
    assert response.status_code == 200
    assert Client(sandbox.url, "ro@x.y", "ro").cancel(target).code == "E009"
    assert requests.get(f"{base}/nothing", timeout=5).status_code == 404
    assert requests.get(f"{base}/health", timeout=5).json() == {"status": "ok"}


def test_stopping_closes_keep_alive_connections():
    with run_sandbox(orders=5) as sandbox:
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
        assert client.call("GetFailureReasons").ok
    with pytest.raises(requests.ConnectionError):
        client.call("GetFailureReasons")
