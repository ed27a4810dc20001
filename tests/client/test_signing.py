"""Signing: the documented vector, RFC 3986 encoding, and what is really sent."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote

import pytest
import responses

from airflow_seller_provider.client.signing import (
    canonical_query,
    percent_encode,
    sign,
    utc_timestamp,
)
from tests.client.encoding import TRICKY, rfc3986
from tests.client.helpers import API_KEY, BASE_URL, query_of, raw_query, xml_ok

VECTOR_PARAMS = {
    "Action": "FeedList",
    "Format": "XML",
    "Timestamp": "2015-07-01T11:11:11+00:00",
    "UserID": "look@me.com",
    "Version": "1.0",
}
VECTOR_STRING = (
    "Action=FeedList&Format=XML&Timestamp=2015-07-01T11%3A11%3A11%2B00%3A00"
    "&UserID=look%40me.com&Version=1.0"
)
VECTOR_SIGNATURE = "3ceb8ed91049dfc718b0d2d176fb2ed0e5fd74f76c5971f34cdab48412476041"


def test_documented_vector() -> None:
    assert canonical_query(VECTOR_PARAMS) == VECTOR_STRING
    assert sign(VECTOR_PARAMS, API_KEY) == VECTOR_SIGNATURE


def test_order_of_parameters_does_not_matter_and_signature_is_excluded() -> None:
    shuffled = dict(reversed(list(VECTOR_PARAMS.items())))
    shuffled["Signature"] = "anything"
    assert canonical_query(shuffled) == VECTOR_STRING
    assert sign(shuffled, API_KEY) == VECTOR_SIGNATURE


def test_sorting_is_byte_order() -> None:
    # Upper case sorts before lower case in byte order ('Z' < 'a').
    assert canonical_query({"a": "1", "Z": "2", "B": "3"}) == "B=3&Z=2&a=1"


@pytest.mark.parametrize("value", TRICKY)
def test_percent_encoding_is_rfc3986(value: str) -> None:
    encoded = percent_encode(value)
    assert encoded == rfc3986(value)
    assert "+" not in encoded and " " not in encoded
    assert unquote(encoded) == value


def test_space_is_percent_20_and_reserved_marks_are_encoded() -> None:
    assert percent_encode("a b") == "a%20b"
    assert percent_encode("!'()*") == "%21%27%28%29%2A"
    assert percent_encode("~-._") == "~-._"


def test_utc_timestamp_has_explicit_offset() -> None:
    moment = datetime(2015, 7, 1, 13, 11, 11, 999, tzinfo=timezone(timedelta(hours=2)))
    assert utc_timestamp(moment) == "2015-07-01T11:11:11+00:00"
    assert utc_timestamp().endswith("+00:00")
    now = datetime.now(UTC)
    sent = datetime.fromisoformat(utc_timestamp())
    assert abs((sent - now).total_seconds()) < 5


@pytest.mark.parametrize("value", TRICKY)
def test_what_is_sent_decodes_to_the_original_and_verifies(
    rsps: responses.RequestsMock, client, value: str
) -> None:
    rsps.add(responses.POST, BASE_URL, body=xml_ok(action="SetStatusToCanceled"))
    client.cancel_order_item(123, reason="SHORTAGE", reason_detail=value)
    url = rsps.calls[0].request.url
    query = raw_query(url)
    # The query sent is exactly the signed encoding followed by the signature.
    signed_part, _, signature = query.rpartition("&Signature=")
    decoded = query_of(url)
    assert decoded["ReasonDetail"] == value
    assert signed_part == canonical_query({k: v for k, v in decoded.items() if k != "Signature"})
    # A server recomputing from the decoded parameters, with its own encoder, agrees.
    server_string = "&".join(
        f"{rfc3986(k)}={rfc3986(v)}"
        for k, v in sorted(decoded.items(), key=lambda kv: kv[0].encode())
        if k != "Signature"
    )
    expected = hmac.new(API_KEY.encode(), server_string.encode(), hashlib.sha256).hexdigest()
    assert signature == expected == decoded["Signature"]


def test_every_common_parameter_is_sent(rsps: responses.RequestsMock, client) -> None:
    rsps.add(responses.GET, BASE_URL, body=xml_ok(action="GetFailureReasons"))
    client.get_failure_reasons()
    sent = query_of(rsps.calls[0].request.url)
    assert sent["Action"] == "GetFailureReasons"
    assert sent["Format"] == "XML"
    assert sent["Version"] == "1.0"
    assert sent["UserID"] == "look@me.com"
    assert datetime.fromisoformat(sent["Timestamp"]).utcoffset() == timedelta(0)
    assert len(sent["Signature"]) == 64 and sent["Signature"] == sent["Signature"].lower()
