"""Bad input at the operator's door: refused with a message that names the bad value,
as our own message (no library traceback chained to it), before a single request
(issue 7).

Already covered elsewhere, and not repeated here: the validators one by one
(tests/client/test_validation.py, tests/operators/test_parse_targets.py), the client's
refusals before any request (tests/client/test_api.py), the hook's refusal of each bad
connection (tests/hooks/test_seller_center_hook.py), and six of the operator cases below
for "no cancellation sent" (tests/operators/test_cancel_order_item.py). Here: every case
at the operator, with no request *of any kind* sent, the unknown reason checked with one
read, the connection cases through a task, and a reason_detail full of awkward characters
stored exactly.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from airflow_seller_provider.compat import AirflowFailException
from airflow_seller_provider.hooks.seller_center import ConnectionConfigError
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
from airflow_seller_provider.sandbox.testing import Sandbox, run_sandbox
from tests.secret_guard import register_secret
from tests.support import FakeTI

CONN_ID = "sc_reliability_input"
API_KEY = register_secret(f"bad-input-{secrets.token_urlsafe(18)}")
CANCEL = "SetStatusToCanceled"


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    with run_sandbox(seed=9, orders=40, api_key=API_KEY) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shared_sandbox.airflow_conn_json())
    shared_sandbox.clear_requests_log()
    return shared_sandbox


def execute(order_item_id: Any, **kwargs: Any) -> dict[str, Any]:
    op = CancelOrderItemOperator(
        task_id="cancel", order_item_id=order_item_id, seller_center_conn_id=CONN_ID, **kwargs
    )
    return op.execute({"ti": FakeTI()})


def our_own_message(error: BaseException) -> str:
    """The message, after checking that no other exception is chained to it."""
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return str(error)


def pending_item(sandbox: Sandbox) -> dict[str, int]:
    state = sandbox.state()
    (user,) = [u for u in state["users"] if u["user_id"] == sandbox.user_id]
    return next(
        {"order_item_id": i["order_item_id"], "order_id": o["order_id"]}
        for o in state["orders"]
        if o["seller_id"] == user["seller_id"]
        for i in o["items"]
        if i["status"] == "pending" and i["shipping_type"] != "Fulfillment"
    )


# ------------------------------------------------------------------ ids and reasons

REFUSED = {
    "id-abc": ("abc", {}, ["order item id 'abc' is not a positive 32-bit integer"]),
    "id-minus-1": (-1, {}, ["order item id -1 is not"]),
    "id-0": (0, {}, ["order item id 0 is not"]),
    "id-2**31": (2**31, {}, ["order item id 2147483648 is not"]),
    "id-None": (None, {}, ["order item id None is not"]),
    "id-empty-list": ([], {}, ["order_item_id is an empty list"]),
    "id-list-with-x": ([1, "x"], {}, ["order item id 'x' is not", "(entry 1)"]),
    "reason-empty": (5, {"reason": ""}, ["reason is empty", "SHORTAGE"]),
    "reason-300-chars": (5, {"reason": "R" * 300}, ["is 300 characters long", "at most 255"]),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_bad_ids_and_reasons_are_refused_before_any_request(sandbox: Sandbox, name: str) -> None:
    value, kwargs, words = REFUSED[name]
    with pytest.raises(AirflowFailException) as info:  # a failure no retry can mend
        execute(value, **kwargs)
    text = our_own_message(info.value)
    assert text.startswith("Refused before sending anything: ")
    assert all(word in text for word in words), text
    assert len(text) < 400
    assert sandbox.requests_log() == []


def test_an_unknown_reason_is_refused_after_one_read(sandbox: Sandbox) -> None:
    before = sandbox.state()
    target = pending_item(sandbox)
    with pytest.raises(AirflowFailException) as info:
        execute(target, reason="Because I said so")
    text = our_own_message(info.value)
    assert "reason 'Because I said so' is not a canceled-type reason" in text
    listed = [r["name"] for r in before["failure_reasons"] if r["type"] == "canceled"]
    assert all(repr(name) in text for name in [*listed, "SHORTAGE"])
    assert [r["action"] for r in sandbox.requests_log()] == ["GetFailureReasons"]
    assert sandbox.state() == before


# ------------------------------------------------------------------ reason_detail

AWKWARD = "  Sin stock: 'ñandú' \"東京\" 🚚\r\nline 2\ttab & a+b=c 100% %41 #1 ?x=y;/ ~*!()[]{}  "


def test_an_awkward_reason_detail_is_sent_signed_and_stored_exactly(sandbox: Sandbox) -> None:
    target = pending_item(sandbox)
    result = execute(target, reason_detail=AWKWARD)
    assert result["canceled"] == [target["order_item_id"]]
    # Read before, the cancel, read after: one cancel.
    (request,) = [r for r in sandbox.requests_log() if r["action"] == CANCEL]
    # The sandbox checked the signature ("ok", not E007) over the decoded value.
    assert (request["action"], request["verdict"]) == (CANCEL, "ok")
    assert request["params"]["ReasonDetail"] == AWKWARD
    (item,) = [
        i
        for o in sandbox.state()["orders"]
        for i in o["items"]
        if i["order_item_id"] == target["order_item_id"]
    ]
    assert (item["status"], item["reason_detail"]) == ("canceled", AWKWARD)


# ---------------------------------------------------------------------- connections

CONNECTIONS = {
    "no-login": ({"login": None}, ["has no login", "UserID"]),
    "no-password": ({"password": None}, ["has no password", "API key"]),
    "ftp-host": (
        {"host": "ftp://sellercenter.example.test/"},
        ["host (Base URL) 'ftp://sellercenter.example.test/'", "http(s)"],
    ),
    "host-without-scheme": (
        {"host": "sellercenter.example.test"},
        ["host (Base URL) 'sellercenter.example.test'", "http(s)"],
    ),
    "unknown-business-unit": (
        {"extra": {"business_unit": "FAXX"}},
        ["extra 'business_unit' 'FAXX'", "FACL, FACO, FAPE"],
    ),
    "format-yaml": ({"extra": {"format": "YAML"}}, ["extra 'format' 'YAML'", "XML, JSON"]),
    "timeout-soon": ({"extra": {"timeout": "soon"}}, ["extra 'timeout' is 'soon'", "number"]),
    "rate-limit-fast": (
        {"extra": {"rate_limit": "fast"}},
        ["extra 'rate_limit' is 'fast'", "number"],
    ),
}


@pytest.mark.parametrize("name", list(CONNECTIONS))
def test_a_bad_connection_fails_the_task_naming_it_before_any_request(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields, words = CONNECTIONS[name]
    conn_id = f"sc_bad_{name.replace('-', '_')}"
    conn = {
        "conn_type": "seller_center",
        "host": "https://sellercenter.example.test/",
        "login": "api@example.com",
        "password": API_KEY,
        "extra": {"seller_id": "S1", "business_unit": "FACL"},
        **fields,
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    op = CancelOrderItemOperator(
        task_id="cancel", order_item_id=[6750999, 6653173], seller_center_conn_id=conn_id
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        with pytest.raises(ConnectionConfigError) as info:
            op.execute({"ti": FakeTI()})
        assert len(mocked.calls) == 0  # nothing left this machine, to any host
    assert isinstance(info.value, AirflowFailException)  # no task retry: fix the connection
    text = our_own_message(info.value)
    assert text.startswith(f"Connection {conn_id!r}")
    assert all(word in text for word in words), text
    assert API_KEY not in text
