"""Request checks: common parameters, signature, action, method, role, garbage input."""

from __future__ import annotations

import pytest

from .helpers import (
    Client,
    encode,
    query_string,
    raw_http,
    signature,
    string_to_sign,
    timestamp,
)

VECTOR_KEY = "b1bdb357ced10fe4e9a69840cdd4f0e9c03d77fe"
VECTOR = {
    "Action": "FeedList",
    "Format": "XML",
    "Timestamp": "2015-07-01T11:11:11+00:00",
    "UserID": "look@me.com",
    "Version": "1.0",
}


def test_the_test_signer_matches_the_documented_vector():
    assert string_to_sign(VECTOR) == (
        "Action=FeedList&Format=XML&Timestamp=2015-07-01T11%3A11%3A11%2B00%3A00"
        "&UserID=look%40me.com&Version=1.0"
    )
    assert signature(VECTOR, VECTOR_KEY) == (
        "3ceb8ed91049dfc718b0d2d176fb2ed0e5fd74f76c5971f34cdab48412476041"
    )
    assert encode("a b!'()*~") == "a%20b%21%27%28%29%2A~"


def test_a_signed_request_succeeds(reader: Client):
    reply = reader.call("GetFailureReasons")
    assert reply.status == 200 and reply.ok
    assert reply.head["RequestAction"] == "GetFailureReasons"
    assert reply.head["ResponseType"] == "Reasons"
    assert reply.headers["Content-Type"] == "application/xml; charset=utf-8"


@pytest.mark.parametrize("name", ["Action", "Timestamp", "Version", "UserID", "Signature"])
def test_each_missing_parameter_is_e001_naming_it(reader: Client, name: str):
    params = reader.signed(reader.params("GetFailureReasons"))
    del params[name]
    reply = reader.send(params, sign=False)
    assert reply.code == "E001" and reply.status == 400
    assert reply.message == f"E001: Parameter {name} is mandatory"
    assert reply.head["ErrorType"] == "Sender" and reply.head["ErrorCode"] == "1"


def test_error_envelope_shape_in_json(reader: Client):
    reply = reader.send(reader.params("GetFailureReasons", "JSON", Version="2.0"))
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.tree == {
        "ErrorResponse": {
            "Head": {
                "RequestAction": "GetFailureReasons",
                "ErrorType": "Sender",
                "ErrorCode": "2",
                "ErrorMessage": "E002: Invalid Version",
            },
            "Body": "",
        }
    }


def test_error_envelope_shape_in_xml(reader: Client):
    reply = reader.send(reader.params("GetFailureReasons", Version="2.0"))
    assert reply.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b"<Body/>" in reply.content
    assert reply.tree["ErrorResponse"]["Body"] == ""
    assert reply.code == "E002"


@pytest.mark.parametrize(
    "value", ["yesterday", "2015-07-01T11:11:11", "2015-13-01T00:00:00+00:00", "0"]
)
def test_unreadable_timestamp_is_e004(reader: Client, value: str):
    reply = reader.send(reader.params("GetFailureReasons", Timestamp=value))
    assert reply.code == "E004", reply.message


@pytest.mark.parametrize("minutes", [-6, 6, -60 * 24 * 365 * 20])
def test_timestamp_outside_five_minutes_is_e003(reader: Client, minutes: int):
    from datetime import timedelta

    reply = reader.send(
        reader.params("GetFailureReasons", Timestamp=timestamp(timedelta(minutes=minutes)))
    )
    assert reply.code == "E003"
    assert reply.message == "E003: Timestamp has expired"


def test_timestamp_with_other_offsets_and_z_is_accepted(reader: Client):
    from datetime import UTC, datetime, timedelta, timezone

    now = datetime.now(UTC).replace(microsecond=0)
    berlin = now.astimezone(timezone(timedelta(hours=2))).isoformat()
    zulu = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for value in (berlin, zulu, now.strftime("%Y-%m-%dT%H:%M:%S+0000")):
        assert reader.send(reader.params("GetFailureReasons", Timestamp=value)).ok, value


def test_bad_signature_and_unknown_user_are_e007(reader: Client):
    params = reader.signed(reader.params("GetFailureReasons"))
    params["Signature"] = "0" * 64
    bad = reader.send(params, sign=False)
    assert bad.code == "E007" and bad.message == "E007: Login failed. Signature mismatching"
    stranger = Client(reader.url, "nobody@example.com", reader.api_key)
    assert stranger.call("GetFailureReasons").code == "E007"
    wrong_key = Client(reader.url, reader.user_id, "not-the-key")
    assert wrong_key.call("GetFailureReasons").code == "E007"


def test_signature_covers_every_parameter(reader: Client):
    params = reader.signed(reader.params("GetOrders", CreatedAfter="2020-01-01T00:00:00+00:00"))
    params["Limit"] = "5"  # added after signing
    assert reader.send(params, sign=False).code == "E007"


def test_uppercase_signature_is_rejected(reader: Client):
    params = reader.signed(reader.params("GetFailureReasons"))
    params["Signature"] = params["Signature"].upper()
    assert reader.send(params, sign=False).code == "E007"


def test_unknown_action_is_e008(reader: Client):
    reply = reader.call("FeedList")
    assert reply.code == "E008" and reply.message == "E008: Invalid Action"
    assert reply.head["RequestAction"] == "FeedList"


def test_invalid_format_is_e005(reader: Client):
    reply = reader.call("GetFailureReasons", fmt="YAML")
    assert reply.code == "E005"
    assert reply.headers["Content-Type"].startswith("application/xml")


def test_format_is_case_insensitive(reader: Client):
    reply = reader.call("GetFailureReasons", fmt="json")
    assert reply.ok and reply.headers["Content-Type"].startswith("application/json")


def test_format_defaults_to_xml(reader: Client):
    params = reader.params("GetFailureReasons")
    del params["Format"]
    reply = reader.send(params)
    assert reply.ok and reply.headers["Content-Type"].startswith("application/xml")


def test_empty_request_is_e030(reader: Client):
    for query in ("", "&&"):
        reply = reader.send_query(query)
        assert reply.code == "E030", query
    assert reader.session.get(reader.url, timeout=5).status_code == 400


def test_repeated_parameter_is_e005(reader: Client):
    params = reader.signed(reader.params("GetFailureReasons"))
    query = query_string(params) + "&Version=1.0"
    reply = reader.send_query(query)
    assert reply.code == "E005" and "Version" in reply.message


def test_non_utf8_parameters_are_e005(reader: Client):
    params = reader.signed(reader.params("GetFailureReasons"))
    assert reader.send_query(query_string(params) + "&Name=%FF%FE").code == "E005"
    assert reader.send_query(query_string(params) + "&%C3%28=1").code == "E005"


def test_raw_non_ascii_bytes_are_answered(shared_sandbox):
    port = shared_sandbox.server.port
    answer = raw_http(port, b"GET /?Action=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and b"E005" in answer


def test_utf8_values_and_plus_as_space_are_decoded_before_signing(reader: Client):
    params = reader.params("GetProducts", SkuSellerList='["a b", "NIÑO"]')
    signed = reader.signed(params)
    plus_query = "&".join(f"{encode(k)}={encode(v).replace('%20', '+')}" for k, v in signed.items())
    assert reader.send_query(plus_query).ok
    assert reader.send(params).ok


def test_very_long_query_is_refused_cleanly(reader: Client, shared_sandbox):
    reply = reader.call("GetFailureReasons", Junk="x" * 70_000)
    assert reply.status == 414 and reply.code == "E011"
    # long but under the cap: just another parameter (and signed)
    assert reader.call("GetFailureReasons", Junk="y" * 30_000).ok


def test_oversized_body_is_e011(reader: Client):
    params = reader.signed(reader.params("GetFailureReasons"))
    reply = reader.send_query(query_string(params), "POST", data=b"x" * (2 << 20))
    assert reply.code == "E011" and reply.status == 413


def test_a_body_is_ignored(reader: Client):
    params = reader.signed(reader.params("GetFailureReasons"))
    assert reader.send_query(query_string(params), "POST", data=b"<garbage/>").ok


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_405(reader: Client, method: str):
    reply = reader.call("GetFailureReasons", method=method)
    assert reply.status == 405 and reply.code == "E005"
    assert reply.headers["Allow"] == "GET, POST"


def test_head_gets_405_without_a_body(reader: Client):
    response = reader.session.head(reader.url + "?Action=GetFailureReasons", timeout=5)
    assert response.status_code == 405 and response.content == b""


def test_cancel_with_get_is_405(reader: Client):
    reply = reader.call("SetStatusToCanceled", OrderItemId="1", Reason="SHORTAGE")
    assert reply.status == 405 and reply.code == "E005" and reply.headers["Allow"] == "POST"


def test_read_calls_accept_post(reader: Client):
    assert reader.call("GetFailureReasons", method="POST").ok


def test_read_only_user_can_read_but_not_cancel(seller_center_sandbox):
    seller_center_sandbox.add_user("viewer@example.com", "viewer-key")
    viewer = Client(seller_center_sandbox.url, "viewer@example.com", "viewer-key")
    assert viewer.call("GetFailureReasons").ok
    reply = viewer.cancel(1)
    assert reply.code == "E009" and reply.message == "E009: Access Denied"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"\x00\x01\x02garbage\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"BREW /?Action=x HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /?" + b"A" * 70_000 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"h" * 70_000 + b"\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST /?Action=GetOrders HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_garbage_never_stops_the_server(shared_sandbox, reader: Client, request_bytes: bytes):
    raw_http(shared_sandbox.server.port, request_bytes)
    assert reader.call("GetFailureReasons").ok


def test_handler_exceptions_are_e006_and_logged(seller_center_sandbox, client, monkeypatch, caplog):
    from airflow_seller_provider.sandbox import actions

    def boom(ctx):
        raise RuntimeError("bug")

    monkeypatch.setitem(actions.ACTIONS, "GetFailureReasons", actions.Action(boom))
    reply = client.call("GetFailureReasons")
    assert reply.status == 500 and reply.code == "E006"
    assert reply.head["ErrorType"] == "Platform"
    assert "bug" in caplog.text
    assert client.call("GetOrders", CreatedAfter="2000-01-01").ok


def test_keep_alive_serves_many_requests_on_one_connection(reader: Client):
    for _ in range(20):
        assert reader.call("GetFailureReasons").ok
    assert len(reader.session.adapters["http://"].poolmanager.pools) == 1
