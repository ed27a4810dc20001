"""Transport: retries and their bounds, re-signing, Retry-After, pacing, body cap, headers."""

from __future__ import annotations

import logging
import math
import platform
import threading
from datetime import timedelta
from email.utils import format_datetime

import pytest
import requests
import responses

from airflow_seller_provider import __version__
from airflow_seller_provider.client.errors import (
    AuthenticationError,
    ClockSkewError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    ResponseError,
    SellerCenterError,
    ServerError,
    ThrottlingError,
    TransportError,
)
from airflow_seller_provider.client.transport import (
    POOL_MAXSIZE,
    Pacer,
    build_user_agent,
    parse_retry_after,
)
from tests.client.helpers import API_KEY, BASE_URL, query_of, xml_error, xml_ok

OK = xml_ok("<Reasons/>", action="GetFailureReasons")
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def add(rsps: responses.RequestsMock, *answers: dict, method: str = responses.GET) -> None:
    """Register answers in order (the last one repeats)."""
    for answer in answers:
        rsps.add(method, BASE_URL, **answer)


def ok() -> dict:
    return {"body": OK}


def error(code: int, message: str = "", status: int = 200, **extra) -> dict:
    return {
        "body": xml_error(code, f"E{code:03d}: {message or 'error'}"),
        "status": status,
        **extra,
    }


# ------------------------------------------------------------------- retries

RETRYABLE = {
    "E429": error(429, "Too many requests"),
    "E006": error(6, "Unexpected internal error"),
    "E021": error(21, "OMS Api Error Occurred"),
    "E119": error(119, "Not ready"),
    "http-429": {"body": "slow down", "status": 429},
    "http-500": {"body": "", "status": 500},
    "http-502-html": {"body": HTML_502, "status": 502, "content_type": "text/html"},
    "http-503": {"body": "Service Unavailable", "status": 503},
    "http-504-html": {"body": HTML_502, "status": 504},
    "html-under-200": {"body": HTML_502, "status": 200, "content_type": "text/html"},
    "connection-error": {"body": requests.ConnectionError("Connection reset by peer")},
    "read-timeout": {"body": requests.exceptions.ReadTimeout("read timed out")},
    "connect-timeout": {"body": requests.exceptions.ConnectTimeout("connect timed out")},
    "chunked": {"body": requests.exceptions.ChunkedEncodingError("IncompleteRead")},
}


@pytest.mark.parametrize("failure", list(RETRYABLE.values()), ids=list(RETRYABLE))
def test_transient_failures_are_retried(rsps, client, fake_time, failure) -> None:
    add(rsps, failure, ok())
    assert client.get_failure_reasons() == []
    assert len(rsps.calls) == 2
    assert len(fake_time.sleeps) == 1


@pytest.mark.parametrize("failure", list(RETRYABLE.values()), ids=list(RETRYABLE))
def test_transient_failures_give_up_after_max_retries(rsps, make_client, failure) -> None:
    client = make_client(max_retries=3)
    add(rsps, failure)
    with pytest.raises(SellerCenterError) as info:
        client.get_failure_reasons()
    assert info.value.retryable
    assert info.value.attempts == 3
    assert len(rsps.calls) == 3
    assert API_KEY not in str(info.value)


NOT_RETRYABLE = [
    (1, InvalidRequestError),
    (2, InvalidRequestError),
    (4, InvalidRequestError),
    (7, AuthenticationError),
    (8, InvalidRequestError),
    (9, AuthenticationError),
    (20, NotFoundError),
    (22, InvalidRequestError),
    (28, InvalidStateError),
    (38, InvalidRequestError),
]


@pytest.mark.parametrize(("code", "kind"), NOT_RETRYABLE)
@pytest.mark.parametrize("status", [200, 400])
def test_non_retryable_codes_fail_at_once(rsps, client, fake_time, code, kind, status) -> None:
    add(rsps, error(code, status=status), ok())
    with pytest.raises(kind) as info:
        client.get_failure_reasons()
    assert info.value.code == f"E{code:03d}"
    assert info.value.attempts == 1
    assert info.value.lost_answer is False
    assert len(rsps.calls) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    "answer",
    [
        {"body": "<SuccessResponse><Head>", "status": 200},
        {"body": "[]", "status": 200},
        {"body": "x" * 10, "status": 404},
        {"body": requests.exceptions.SSLError("certificate verify failed")},
        {"body": "", "status": 301, "headers": {"Location": "https://other.test/?Signature=1"}},
    ],
    ids=["truncated", "json-list", "404", "tls", "redirect"],
)
def test_broken_but_not_transient_answers_fail_at_once(rsps, client, answer) -> None:
    add(rsps, answer, ok())
    with pytest.raises(SellerCenterError) as info:
        client.get_failure_reasons()
    assert not info.value.retryable
    assert len(rsps.calls) == 1
    assert "Signature=1" not in str(info.value)


def test_redirects_are_not_followed(rsps, client) -> None:
    add(rsps, {"body": "", "status": 302, "headers": {"Location": "https://other.test/x"}})
    rsps.add(responses.GET, "https://other.test/x", body=OK)
    with pytest.raises(ResponseError) as info:
        client.get_failure_reasons()
    assert "https://other.test/x" in str(info.value)
    assert len(rsps.calls) == 1


def test_each_attempt_is_signed_afresh(rsps, make_client, fake_time) -> None:
    client = make_client(max_retries=4)
    add(rsps, error(429), error(6), {"body": HTML_502, "status": 502}, ok())
    client.get_failure_reasons()
    sent = [query_of(call.request.url) for call in rsps.calls]
    assert len(sent) == 4
    timestamps = [q["Timestamp"] for q in sent]
    assert len(set(timestamps)) == 4
    assert len({q["Signature"] for q in sent}) == 4
    from airflow_seller_provider.client.signing import sign

    for query in sent:
        signature = query.pop("Signature")
        assert sign(query, API_KEY) == signature


def test_backoff_is_exponential_with_full_jitter_and_capped(rsps, make_client, fake_time) -> None:
    client = make_client(max_retries=6, backoff_base=1.0, backoff_max=5.0, rng=0.5)
    add(rsps, {"body": "", "status": 500})
    with pytest.raises(TransportError):
        client.get_failure_reasons()
    # ceilings 1, 2, 4, 5 (capped), 5; jitter 0.5 of each
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 2.5, 2.5]


def test_jitter_is_random_within_the_ceiling(rsps, make_client, fake_time) -> None:
    client = make_client(max_retries=4, backoff_base=2.0, backoff_max=100.0, rng=None)
    values = iter([0.0, 0.99, 0.25])
    client.transport.rng = lambda: next(values)
    add(rsps, {"body": "", "status": 500})
    with pytest.raises(TransportError):
        client.get_failure_reasons()
    # waits: 0.0 x 2 (not slept), 0.99 x 4, 0.25 x 8
    assert fake_time.sleeps == [pytest.approx(3.96), 2.0]
    assert len(rsps.calls) == 4


def test_total_retry_time_is_bounded(rsps, make_client, fake_time) -> None:
    client = make_client(
        max_retries=50, max_retry_time=10.0, backoff_base=4.0, backoff_max=100.0, rng=1.0
    )
    add(rsps, error(6))
    with pytest.raises(ServerError) as info:
        client.get_failure_reasons()
    # waits 4 (t=4), then 8 would end past the 10 s budget: give up after 2 attempts
    assert fake_time.sleeps == [4.0]
    assert info.value.attempts == 2
    assert len(rsps.calls) == 2


def test_retry_after_seconds_is_honoured(rsps, make_client, fake_time) -> None:
    client = make_client(backoff_base=0.5, rng=0.0)
    add(rsps, {"body": "busy", "status": 429, "headers": {"Retry-After": "7"}}, ok())
    client.get_failure_reasons()
    assert fake_time.sleeps == [7.0]


def test_retry_after_http_date_is_honoured(rsps, make_client, fake_time) -> None:
    client = make_client(rng=0.0)
    # fake utc_now is 12:00:01 at the first attempt and 12:00:02 when the answer is read
    when = fake_time.utc_start + timedelta(seconds=32)
    add(
        rsps,
        {"body": HTML_502, "status": 503, "headers": {"Retry-After": format_datetime(when, True)}},
        ok(),
    )
    client.get_failure_reasons()
    assert fake_time.sleeps == [pytest.approx(30.0, abs=1.0)]


def test_retry_after_on_an_e429_envelope_is_honoured(rsps, make_client, fake_time) -> None:
    client = make_client(rng=0.0)
    add(rsps, error(429, headers={"Retry-After": "3"}), ok())
    client.get_failure_reasons()
    assert fake_time.sleeps == [3.0]


def test_retry_after_beyond_the_time_budget_gives_up_at_once(rsps, make_client, fake_time) -> None:
    client = make_client(max_retry_time=60.0)
    add(rsps, {"body": "", "status": 429, "headers": {"Retry-After": "3600"}}, ok())
    with pytest.raises(ThrottlingError) as info:
        client.get_failure_reasons()
    assert info.value.retry_after == 3600.0
    assert info.value.attempts == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-1", None),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 01 May 2024 12:00:30 GMT", 30.0),
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header, expected, fake_time) -> None:
    assert parse_retry_after(header, fake_time.utc_start) == expected


# ---------------------------------------------------------------------- E003


def test_e003_re_signs_once_at_once(rsps, client, fake_time) -> None:
    add(rsps, error(3, "Timestamp has expired"), ok())
    client.get_failure_reasons()
    assert len(rsps.calls) == 2
    assert fake_time.sleeps == []
    first, second = (query_of(call.request.url) for call in rsps.calls)
    assert first["Timestamp"] != second["Timestamp"]
    assert first["Signature"] != second["Signature"]


def test_e003_twice_is_clock_skew_with_advice(rsps, client) -> None:
    add(rsps, error(3, "Timestamp has expired"))
    with pytest.raises(ClockSkewError) as info:
        client.get_failure_reasons()
    assert len(rsps.calls) == 2
    assert info.value.attempts == 2
    assert info.value.code == "E003"
    assert "clock" in str(info.value).lower()
    assert not info.value.retryable


def test_e003_does_not_exceed_max_retries(rsps, make_client) -> None:
    client = make_client(max_retries=1)
    add(rsps, error(3, "Timestamp has expired"), ok())
    with pytest.raises(ClockSkewError):
        client.get_failure_reasons()
    assert len(rsps.calls) == 1


# -------------------------------------------------------------- lost answers


def cancel(client):
    return client.cancel_order_item(5, "SHORTAGE")


@pytest.mark.parametrize(
    ("first", "lost"),
    [
        ({"body": requests.exceptions.ReadTimeout("read timed out")}, True),
        ({"body": requests.ConnectionError("RemoteDisconnected")}, True),
        ({"body": requests.exceptions.ChunkedEncodingError("IncompleteRead")}, True),
        ({"body": HTML_502, "status": 502}, True),
        ({"body": "", "status": 500}, True),
        (error(21, "OMS Api Error Occurred"), True),
        ({"body": requests.exceptions.ConnectTimeout("connect timed out")}, False),
        (error(429), False),
        ({"body": "", "status": 429}, False),
        (error(119), False),
    ],
    ids=[
        "read-timeout",
        "dropped",
        "truncated-stream",
        "502",
        "500",
        "e021",
        "connect-timeout",
        "e429",
        "429",
        "e119",
    ],
)
def test_lost_answer_on_a_post(rsps, client, first, lost) -> None:
    add(rsps, first, error(28, "not possible"), method=responses.POST)
    with pytest.raises(InvalidStateError) as info:
        cancel(client)
    assert info.value.attempts == 2
    assert info.value.lost_answer is lost


def test_connection_refused_before_sending_is_not_a_lost_answer(rsps, client) -> None:
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    refused = requests.ConnectionError(MaxRetryError(None, "/", reason))
    add(rsps, {"body": refused}, error(28), method=responses.POST)
    with pytest.raises(InvalidStateError) as info:
        cancel(client)
    assert info.value.lost_answer is False


def test_a_get_never_reports_a_lost_answer(rsps, client) -> None:
    add(rsps, {"body": requests.exceptions.ReadTimeout("t")}, error(20))
    with pytest.raises(NotFoundError) as info:
        client.get_order_items(5)
    assert info.value.lost_answer is False
    assert info.value.attempts == 2


def test_exhausted_post_timeouts_report_the_lost_answer(rsps, make_client) -> None:
    client = make_client(max_retries=2)
    add(rsps, {"body": requests.exceptions.ReadTimeout("t")}, method=responses.POST)
    with pytest.raises(TransportError) as info:
        cancel(client)
    assert info.value.lost_answer is True and info.value.attempts == 2


def test_cancel_is_a_post_with_an_empty_body(rsps, client) -> None:
    add(rsps, ok(), method=responses.POST)
    cancel(client)
    request = rsps.calls[0].request
    assert request.method == "POST"
    assert not request.body
    assert query_of(request.url)["Action"] == "SetStatusToCanceled"


# ------------------------------------------------------------- exception text


def test_transport_errors_never_quote_the_signed_url(rsps, client) -> None:
    leaked = requests.ConnectionError(
        "HTTPSConnectionPool(host='sellercenter.test', port=443): Max retries exceeded with "
        f"url: /?Action=GetFailureReasons&Signature=deadbeef00&Key={API_KEY} (Caused by x)"
    )
    add(rsps, {"body": leaked})
    with pytest.raises(TransportError) as info:
        client.get_failure_reasons()
    text = str(info.value) + repr(info.value)
    assert "deadbeef00" not in text and API_KEY not in text
    assert "sellercenter.test" in text  # still says where it failed
    assert info.value.__cause__ is None and info.value.__context__ is None


# ------------------------------------------------------------------ body cap


def test_body_over_the_cap_by_content_length(rsps, make_client) -> None:
    client = make_client(max_response_bytes=1000)
    add(rsps, {"body": OK + " " * 2000, "auto_calculate_content_length": True})
    with pytest.raises(ResponseError) as info:
        client.get_failure_reasons()
    assert f"declares {len(OK) + 2000} bytes, over the 1000-byte cap" in str(info.value)
    assert len(rsps.calls) == 1


def test_body_over_the_cap_without_content_length(rsps, make_client) -> None:
    client = make_client(max_response_bytes=1000)

    def stream():
        yield OK.encode()
        for _ in range(1000):
            yield b" " * 100

    rsps.add(responses.GET, BASE_URL, body=b"".join(stream()), auto_calculate_content_length=False)
    with pytest.raises(ResponseError) as info:
        client.get_failure_reasons()
    assert "went past the 1000-byte cap" in str(info.value)


def test_body_at_the_cap_is_read(rsps, make_client) -> None:
    client = make_client(max_response_bytes=len(OK.encode()))
    add(rsps, ok())
    assert client.get_failure_reasons() == []


# ------------------------------------------------------------------ headers


def test_five_part_user_agent(rsps, make_client, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_seller_provider.client"):
        client = make_client(seller_id="JJJ123", business_unit="faco", integration="ACME")
    add(rsps, ok())
    client.get_failure_reasons()
    agent = rsps.calls[0].request.headers["User-Agent"]
    assert agent == f"JJJ123/Python/{platform.python_version()}/ACME/FACO"
    assert agent.count("/") == 4
    assert not [r for r in caplog.records if "five-part" in r.getMessage()]


def test_generic_user_agent_warns_once_per_client(rsps, make_client, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_seller_provider.client"):
        client = make_client(seller_id=None, business_unit=None)
        add(rsps, ok())
        client.get_failure_reasons()
        client.get_failure_reasons()
        warnings = [r for r in caplog.records if "five-part" in r.getMessage()]
        assert len(warnings) == 1
        assert "seller_id and business_unit" in warnings[0].getMessage()
        make_client(seller_id="S1", business_unit=None)
        assert len([r for r in caplog.records if "five-part" in r.getMessage()]) == 2
    agent = rsps.calls[0].request.headers["User-Agent"]
    assert agent == f"airflow-seller-provider/{__version__}/Python/{platform.python_version()}"


def test_build_user_agent() -> None:
    assert build_user_agent("S", "FACL", "PROPIA") == (
        f"S/Python/{platform.python_version()}/PROPIA/FACL",
        True,
    )
    assert build_user_agent("S", None)[1] is False
    assert build_user_agent(None, "FACL")[1] is False


def test_one_session_with_a_large_pool_and_a_timeout(client, monkeypatch) -> None:
    transport = client.transport
    adapter = transport.session.get_adapter(BASE_URL)
    assert adapter._pool_maxsize >= 32 == POOL_MAXSIZE
    seen = []

    def fake_request(method, url, **kwargs):
        seen.append(kwargs)
        raise requests.exceptions.ConnectTimeout("no")

    monkeypatch.setattr(transport.session, "request", fake_request)
    with pytest.raises(TransportError):
        client.get_failure_reasons()
    assert all(kw["timeout"] == (30.0, 30.0) and kw["stream"] is True for kw in seen)
    assert all(kw["allow_redirects"] is False for kw in seen)


def test_a_caller_session_is_used_and_left_open(rsps, make_client) -> None:
    session = requests.Session()
    client = make_client(session=session)
    add(rsps, ok())
    client.get_failure_reasons()
    assert client.transport.session is session
    client.close()
    closed = []
    session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    client.close()
    assert closed == []


# ------------------------------------------------------------------- pacing


def starts_in_any_window(slots: list[float], width: float) -> int:
    return max(sum(1 for t in slots if a <= t < a + width) for a in slots)


@pytest.mark.parametrize("rate", [0.5, 1, 2.5, 4, 5, 10, 45, 100])
def test_pacer_never_exceeds_the_budget_in_a_second_and_keeps_its_rate(rate) -> None:
    limiter = Pacer(rate)
    slots = [limiter.reserve(0.0) for _ in range(int(10 * rate) + 10)]
    assert slots == sorted(slots)
    assert starts_in_any_window(slots, 1.0) <= max(1, math.ceil(rate))
    # The burst is half a second of the budget (at least 1), then the pace is the rate.
    assert slots.count(0.0) == max(1, int(rate // 2))
    assert (len(slots) - 1) / slots[-1] == pytest.approx(rate, rel=0.12)


def test_pacer_bursts_half_a_second_then_paces() -> None:
    limiter = Pacer(4.0)  # a burst of 2, then 0.25 s apart, at most 4 in any second
    assert [limiter.reserve(100.0) for _ in range(5)] == [0.0, 0.0, 0.25, 0.5, 1.0]
    # later callers queue behind the reserved slots
    assert limiter.reserve(100.5) == pytest.approx(0.5)
    # an idle spell banks no more than the burst
    assert [limiter.reserve(200.0) for _ in range(3)] == [0.0, 0.0, 0.25]


def test_a_slow_rate_is_evenly_paced() -> None:
    limiter = Pacer(0.5)
    assert [limiter.reserve(10.0) for _ in range(3)] == [0.0, 2.0, 4.0]


def test_rate_limiter_is_shared_by_threads() -> None:
    limiter = Pacer(10.0)  # a burst of 5, then 0.1 s apart
    waits: list[float] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        waits.append(limiter.reserve(50.0))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([0, 0, 0, 0, 0, 0.1, 0.2, 0.3])


def test_client_calls_are_paced(rsps, make_client, fake_time) -> None:
    client = make_client(rate_limit=5)  # a burst of 2, then 0.2 s apart
    add(rsps, ok())
    starts = []
    original = client.transport.session.request

    def timed(*args, **kwargs):
        starts.append(fake_time.now)
        return original(*args, **kwargs)

    client.transport.session.request = timed  # type: ignore[method-assign]
    for _ in range(5):
        client.get_failure_reasons()
    assert fake_time.sleeps == pytest.approx([0.2, 0.2, 0.2])
    assert [b - a for a, b in zip(starts, starts[1:], strict=False)] == pytest.approx(
        [0, 0.2, 0.2, 0.2]
    )


def test_threads_share_the_client_budget(rsps, make_client, fake_time) -> None:
    client = make_client(rate_limit="20")  # a burst of 10, then 0.05 s apart
    fake_time.sleep = lambda seconds: fake_time.sleeps.append(seconds)  # clock stays put
    client.transport.sleep = fake_time.sleep
    add(rsps, ok())
    threads = [threading.Thread(target=client.get_failure_reasons) for _ in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(rsps.calls) == 14
    assert sorted(fake_time.sleeps) == pytest.approx([k * 0.05 for k in range(1, 5)])


def test_no_rate_limit_means_no_waiting(rsps, client, fake_time) -> None:
    add(rsps, ok())
    for _ in range(5):
        client.get_failure_reasons()
    assert client.transport.limiter is None
    assert fake_time.sleeps == []


# ------------------------------------------------------------------- logging


def test_logs_per_attempt_and_per_retry_without_secrets(rsps, client, caplog) -> None:
    add(rsps, error(429), {"body": requests.exceptions.ReadTimeout("t")}, ok())
    with caplog.at_level(logging.DEBUG):
        client.get_failure_reasons()
    signatures = [query_of(call.request.url)["Signature"] for call in rsps.calls]
    text = caplog.text
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and "attempt" in r.message]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(debug) == 3 and len(warnings) == 2
    assert "GetFailureReasons attempt 1: HTTP 200" in text and "(E429)" in text
    assert "retrying in" in warnings[0].getMessage()
    assert API_KEY not in text
    assert not any(sig in text for sig in signatures)
    assert "Signature=" not in text
