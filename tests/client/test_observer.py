"""The client's observer: one ``CallRecord`` per attempt, what it says, and that it can never
fail a call (the Airflow hook hangs its metrics on it; the client knows nothing of Airflow)."""

from __future__ import annotations

import logging
import sys

import pytest
import requests
import responses

from airflow_seller_provider.client.errors import (
    ResponseError,
    SellerCenterError,
    ThrottlingError,
    TransportError,
)
from airflow_seller_provider.client.transport import CallRecord, call_outcome
from tests.client.helpers import API_KEY, BASE_URL, xml_error, xml_ok

OK = {"body": xml_ok("<Reasons/>", action="GetFailureReasons")}
HTML_502 = {
    "body": "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "status": 502,
    "content_type": "text/html",
}


def error(code: int, status: int = 200, **extra) -> dict:
    return {"body": xml_error(code, f"E{code:03d}: error"), "status": status, **extra}


def answers(rsps: responses.RequestsMock, *bodies: dict, method: str = responses.GET) -> None:
    for body in bodies:
        rsps.add(method, BASE_URL, **body)


@pytest.fixture
def records() -> list[CallRecord]:
    return []


def rows(records: list[CallRecord]) -> list[tuple]:
    return [
        (r.action, r.attempt, r.outcome, r.code, r.retry, r.throttled, r.final) for r in records
    ]


def test_no_observer_is_the_default(client) -> None:
    assert client.transport.observer is None


def test_a_call_that_succeeds_is_one_final_ok_record(rsps, make_client, records) -> None:
    client = make_client(observer=records.append)
    answers(rsps, OK)
    client.get_failure_reasons()
    assert rows(records) == [("GetFailureReasons", 1, "ok", None, False, False, True)]
    (record,) = records
    assert record.latency >= 0 and record.elapsed >= record.latency


def test_retried_attempts_then_success(rsps, make_client, fake_time, records) -> None:
    client = make_client(observer=records.append, max_retries=5)
    answers(rsps, error(6), HTML_502, error(429, headers={"Retry-After": "2"}), OK)
    client.get_failure_reasons()
    assert rows(records) == [
        ("GetFailureReasons", 1, "E006", "E006", True, False, False),
        ("GetFailureReasons", 2, "HTTP_502", "HTTP_502", True, False, False),
        ("GetFailureReasons", 3, "E429", "E429", True, True, False),
        ("GetFailureReasons", 4, "ok", None, False, False, True),
    ]
    # On fake time: the final record's elapsed is the call's waits (nothing else moves it).
    assert records[-1].elapsed == pytest.approx(sum(fake_time.sleeps))
    assert [r.elapsed for r in records] == sorted(r.elapsed for r in records)


def test_a_plain_http_429_is_a_throttle_too(rsps, make_client, records) -> None:
    client = make_client(observer=records.append)
    answers(rsps, {"body": "slow down", "status": 429, "content_type": "text/plain"}, OK)
    client.get_failure_reasons()
    first = records[0]
    assert (first.throttled, first.retry, first.final) == (True, True, False)
    assert records[-1].outcome == "ok"


def test_a_call_that_fails_at_once(rsps, make_client, records) -> None:
    client = make_client(observer=records.append)
    answers(rsps, error(7))
    with pytest.raises(SellerCenterError):
        client.get_failure_reasons()
    assert rows(records) == [("GetFailureReasons", 1, "E007", "E007", False, False, True)]


def test_exhausted_retries_end_on_a_final_error(rsps, make_client, records) -> None:
    client = make_client(observer=records.append, max_retries=3)
    answers(rsps, error(429), error(429), error(429))
    with pytest.raises(ThrottlingError):
        client.get_failure_reasons()
    assert [(r.retry, r.throttled, r.final) for r in records] == [
        (True, True, False),
        (True, True, False),
        (False, True, True),
    ]
    assert {r.outcome for r in records} == {"E429"}


def test_a_transport_error_has_no_code(rsps, make_client, records) -> None:
    client = make_client(observer=records.append, max_retries=2)
    rsps.add(responses.GET, BASE_URL, body=requests.ConnectionError("reset by peer"))
    rsps.add(responses.GET, BASE_URL, body=requests.ConnectionError("reset by peer"))
    with pytest.raises(TransportError):
        client.get_failure_reasons()
    assert rows(records) == [
        ("GetFailureReasons", 1, "transport_error", None, True, False, False),
        ("GetFailureReasons", 2, "transport_error", None, False, False, True),
    ]


def test_e003_re_signed_once_then_clock_skew(rsps, make_client, records) -> None:
    client = make_client(observer=records.append)
    answers(rsps, error(3), error(3))
    with pytest.raises(SellerCenterError):
        client.get_failure_reasons()
    assert rows(records) == [
        ("GetFailureReasons", 1, "E003", "E003", True, False, False),
        ("GetFailureReasons", 2, "E003", "E003", False, False, True),
    ]


def test_a_post_is_observed_like_a_get(rsps, make_client, records) -> None:
    client = make_client(observer=records.append)
    answers(rsps, error(21), {"body": xml_ok(action="SetStatusToCanceled")}, method="POST")
    client.cancel_order_item(123, "SHORTAGE")
    assert [(r.action, r.outcome, r.final) for r in records] == [
        ("SetStatusToCanceled", "E021", False),
        ("SetStatusToCanceled", "ok", True),
    ]


def test_a_failing_observer_never_fails_the_call(rsps, make_client, caplog) -> None:
    def broken(record: CallRecord) -> None:
        raise RuntimeError("metrics backend down")

    client = make_client(observer=broken)
    answers(rsps, error(6), OK)
    with caplog.at_level(logging.DEBUG, logger="airflow_seller_provider.client"):
        assert client.get_failure_reasons() == []
        client.get_failure_reasons()
    failures = [r for r in caplog.records if "observer failed" in r.getMessage()]
    assert len(failures) == 3  # every attempt failed to be observed...
    assert [r.levelno for r in failures].count(logging.WARNING) == 1  # ...said once


def test_an_observer_that_exits_is_not_swallowed(rsps, make_client) -> None:
    # Only Exception is caught: a KeyboardInterrupt or SystemExit still stops the task.
    def stop(record: CallRecord) -> None:
        sys.exit(3)

    client = make_client(observer=stop)
    answers(rsps, OK)
    with pytest.raises(SystemExit):
        client.get_failure_reasons()


def test_the_observer_can_be_set_on_a_live_client(rsps, client, records) -> None:
    client.transport.observer = records.append
    answers(rsps, OK)
    client.get_failure_reasons()
    assert len(records) == 1


def test_records_hold_nothing_secret(rsps, make_client, records) -> None:
    client = make_client(observer=records.append)
    answers(rsps, error(7), method="POST")
    with pytest.raises(SellerCenterError):
        client.cancel_order_item(987654, "SHORTAGE", "detail")
    text = repr(records)
    assert API_KEY not in text
    assert "Signature" not in text and "987654" not in text and "detail" not in text


def test_a_non_callable_observer_is_refused(make_client) -> None:
    with pytest.raises(TypeError, match="observer"):
        make_client(observer="metrics")


def test_call_outcome() -> None:
    assert call_outcome(None) == "ok"
    assert call_outcome(ThrottlingError("slow", code="E429")) == "E429"
    assert call_outcome(TransportError("reset")) == "transport_error"
    assert call_outcome(ResponseError("not xml")) == "response_error"
    assert call_outcome(SellerCenterError("odd")) == "error"


def test_threads_sharing_a_client_each_get_their_records(rsps, make_client, records) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = make_client(observer=records.append)
    answers(rsps, OK)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: client.get_failure_reasons(), range(20)))
    assert len(records) == 20 and all(r.final and r.outcome == "ok" for r in records)
