"""Hostile answers, served for real from a loopback HTTP server: each ends in a clear
SellerCenterError, with bounded memory, after one request when retrying cannot help
(issue 7).

tests/client/test_parsing.py already checks each body against ``parse_response`` alone,
and tests/client/test_loopback.py cuts a streamed body off at a small cap. These go
through the whole client (socket, transport, body cap, parser, models) with its defaults,
and measure the peak of Python memory with tracemalloc while the answer is read.
"""

from __future__ import annotations

import gc
import gzip
import json
import secrets
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_seller_provider.client import SellerCenterClient
from airflow_seller_provider.client.errors import (
    InvalidRequestError,
    ResponseError,
    SellerCenterError,
)
from airflow_seller_provider.client.transport import DEFAULT_MAX_RESPONSE_BYTES
from tests.client.helpers import xml_error, xml_ok
from tests.client.hostile_xml import BILLION_LAUGHS, XXE
from tests.secret_guard import register_secret
from tests.support import serving

API_KEY = register_secret(f"hostile-{secrets.token_urlsafe(18)}")
MiB = 1024 * 1024
TWENTY_MB = 20 * MiB
CAP = DEFAULT_MAX_RESPONSE_BYTES  # 10 MiB: the client's default, used as is
CHUNK = b"<A>" + b"x" * (64 * 1024 - 7) + b"</A>"
SMALL_PEAK = 2 * MiB  # a short answer, refused or parsed: no more than this in flight
BIG_PEAK = CAP + 2 * MiB  # a 20 MB answer: read up to the cap, not a byte more


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Loopback

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.hits += 1
        self.server.behaviour(self)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()


class Loopback(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.hits = 0
        self.behaviour: Callable[[Handler], None] = lambda handler: None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


def send(handler: Handler, status: int, headers: dict[str, str], body: bytes = b"") -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    try:
        handler.wfile.write(body)
    except OSError:  # the client hung up, as it should on a body it refuses
        handler.close_connection = True


def answer(body: bytes | str, status: int = 200, ctype: str = "text/xml; charset=utf-8"):
    data = body.encode() if isinstance(body, str) else body

    def serve(handler: Handler) -> None:
        send(handler, status, {"Content-Type": ctype, "Content-Length": str(len(data))}, data)

    return serve


def twenty_mb(*, declared: bool):
    """20 MB of XML-looking bytes, streamed 64 KiB at a time (never held in memory)."""

    def serve(handler: Handler) -> None:
        headers = {"Content-Type": "text/xml"}
        headers.update(
            {"Content-Length": str(TWENTY_MB)} if declared else {"Transfer-Encoding": "chunked"}
        )
        send(handler, 200, headers)
        try:
            for _ in range(TWENTY_MB // len(CHUNK)):
                if declared:
                    handler.wfile.write(CHUNK)
                else:
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            if not declared:
                handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        handler.close_connection = True

    return serve


def gzip_bomb():
    """About 20 KB on the wire that inflate to 20 MB."""
    data = gzip.compress(b"<SuccessResponse><Head/><Body>" + b" " * TWENTY_MB, 9)
    assert len(data) < 100_000

    def serve(handler: Handler) -> None:
        headers = {
            "Content-Type": "text/xml",
            "Content-Encoding": "gzip",
            "Content-Length": str(len(data)),
        }
        send(handler, 200, headers, data)

    return serve


@dataclass
class Case:
    serve: Callable[[], Callable[[Handler], None]]
    kind: type[SellerCenterError]
    words: tuple[str, ...]
    call: Callable[[SellerCenterClient], Any] = field(default=lambda c: c.get_failure_reasons())
    peak: int = SMALL_PEAK
    response_format: str = "XML"
    absent: tuple[str, ...] = ()
    max_response_bytes: int = CAP


def json_ok(body: Any, action: str) -> str:
    return json.dumps({"SuccessResponse": {"Head": {"RequestAction": action}, "Body": body}})


CASES: dict[str, Case] = {
    "truncated-xml": Case(
        lambda: answer(xml_ok("<Reasons><Reason><Type>canceled</Type></Reason></Reasons>")[:-30]),
        ResponseError,
        ("GetFailureReasons", "HTTP 200", "XML not well-formed"),
    ),
    "not-xml-under-200": Case(
        lambda: answer("All systems nominal, have a nice day", ctype="text/plain"),
        ResponseError,
        ("HTTP 200", "not a SuccessResponse or ErrorResponse", "All systems nominal"),
    ),
    "20mb-declared": Case(
        lambda: twenty_mb(declared=True),
        ResponseError,
        (f"declares {TWENTY_MB} bytes", f"{CAP}-byte cap", "max_response_bytes"),
    ),
    "20mb-chunked": Case(
        lambda: twenty_mb(declared=False),
        ResponseError,
        ("went past", f"{CAP}-byte cap"),
        peak=BIG_PEAK,
    ),
    "20mb-chunked-1mib-cap": Case(  # memory follows the cap, not the body
        lambda: twenty_mb(declared=False),
        ResponseError,
        ("went past", f"{MiB}-byte cap"),
        peak=MiB + 2 * MiB,
        max_response_bytes=MiB,
    ),
    "20mb-gzip-bomb": Case(
        gzip_bomb, ResponseError, ("went past", f"{CAP}-byte cap"), peak=BIG_PEAK
    ),
    "billion-laughs": Case(
        lambda: answer(BILLION_LAUGHS), ResponseError, ("DOCTYPE",), absent=("lollol",)
    ),
    "external-entity": Case(lambda: answer(XXE), ResponseError, ("DOCTYPE",), absent=("root:",)),
    "deeply-nested-xml": Case(
        lambda: answer("<SuccessResponse><Head/><Body>" + "<a>" * 100_000),
        ResponseError,
        ("XML not well-formed",),
    ),
    "json-wrong-shape": Case(
        lambda: answer(json.dumps({"SuccessResponse": ["Head", "Body"]}), ctype="application/json"),
        ResponseError,
        ("not a SuccessResponse or ErrorResponse",),
        response_format="JSON",
    ),
    "deeply-nested-json": Case(
        lambda: answer("[" * 200_000, ctype="application/json"),
        ResponseError,
        ("JSON unreadable",),
        response_format="JSON",
    ),
    "json-item-with-a-date-that-is-no-date": Case(
        lambda: answer(
            json_ok(
                {"OrderItems": {"OrderItem": {"OrderItemId": "1", "CreatedAt": "yesterday"}}},
                "GetOrderItems",
            ),
            ctype="application/json",
        ),
        ResponseError,
        ("GetOrderItems", "unreadable date 'yesterday'"),
        call=lambda c: c.get_order_items(7),
        response_format="JSON",
    ),
    "xml-order-with-a-date-that-is-no-date": Case(
        lambda: answer(
            xml_ok(
                "<Orders><Order><OrderId>5</OrderId><CreatedAt>soon</CreatedAt></Order></Orders>"
            )
        ),
        ResponseError,
        ("GetOrders", "unreadable date 'soon'"),
        call=lambda c: list(c.iter_orders(created_after=date(2024, 1, 1))),
    ),
    "missing-head": Case(
        lambda: answer("<SuccessResponse><Body><Reasons/></Body></SuccessResponse>"),
        ResponseError,
        ("SuccessResponse has no Head", "GetFailureReasons"),
    ),
    "unknown-error-code": Case(
        lambda: answer(
            xml_error(999, "E999: A brand new kind of error", "GetFailureReasons"), status=400
        ),
        InvalidRequestError,
        ("E999", "A brand new kind of error", "GetFailureReasons"),
    ),
}


@pytest.fixture
def server() -> Iterator[Loopback]:
    with serving(Loopback()) as srv:
        yield srv


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_answer_is_a_clear_error_with_bounded_memory(server: Loopback, name: str) -> None:
    case = CASES[name]
    server.behaviour = case.serve()  # built before measuring: the server's bytes are not ours
    client = SellerCenterClient(
        server.url,
        "hostile@example.com",
        API_KEY,
        seller_id="S1",
        business_unit="FACL",
        response_format=case.response_format,
        max_response_bytes=case.max_response_bytes,
        max_retries=3,
        backoff_base=0.01,
        backoff_max=0.02,
        timeout=10,
    )
    gc.collect()
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(SellerCenterError) as info:
            case.call(client)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.close()
    error = info.value
    text = str(error)

    assert type(error) is case.kind, repr(error)
    assert all(word in text for word in case.words), text
    assert not any(word in text for word in case.absent), text
    assert len(text) < 600
    # Nothing here is transient: one request, no retry.
    assert not error.retryable and server.hits == 1 and error.attempts == 1
    # Our message alone, no chained library exception as the explanation.
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert API_KEY not in text and API_KEY not in repr(error)
    assert peak < case.peak, f"{peak / MiB:.1f} MiB of Python memory at the peak"
    assert time.monotonic() - started < 15
