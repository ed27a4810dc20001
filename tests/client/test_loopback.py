"""The client against a tiny HTTP server on 127.0.0.1 that checks signatures itself.

Independent of the project's sandbox: the server decodes the raw query and recomputes the
signature with its own RFC 3986 encoder, as a real server would.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

from airflow_seller_provider.client import SellerCenterClient
from airflow_seller_provider.client.errors import ResponseError, TransportError
from tests.client.encoding import TRICKY, rfc3986
from tests.client.helpers import API_KEY, USER_ID, xml_error, xml_ok
from tests.support import serving


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self.server.behaviour(self)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length)
        self.server.behaviour(self)

    def answer(self, body: str, status: int = 200) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.behaviour: Callable[[Handler], None] = verify_and_answer
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.sent_bytes = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


def decode_query(raw: str) -> dict[str, str]:
    """What a server does: split on & and =, percent-decode (a '+' would stay a '+')."""
    params = {}
    for pair in raw.split("&"):
        name, _, value = pair.partition("=")
        params[unquote(name)] = unquote(value)
    return params


def verify_and_answer(handler: Handler) -> None:
    raw = handler.path.partition("?")[2]
    params = decode_query(raw)
    signature = params.pop("Signature", "")
    string = "&".join(
        f"{rfc3986(k)}={rfc3986(v)}"
        for k, v in sorted(params.items(), key=lambda kv: kv[0].encode())
    )
    expected = hmac.new(API_KEY.encode(), string.encode(), hashlib.sha256).hexdigest()
    valid = hmac.compare_digest(expected, signature)
    with handler.server.lock:
        handler.server.seen.append(
            {
                "raw": raw,
                "params": params,
                "valid": valid,
                "method": handler.command,
                "peer": handler.client_address,
                "agent": handler.headers.get("User-Agent"),
                "body": getattr(handler, "body", b""),
            }
        )
    action = params.get("Action", "")
    if not valid:
        handler.answer(xml_error(7, "E007: Login failed. Signature mismatching", action), 400)
    else:
        handler.answer(xml_ok(action=action))


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with serving(LoopbackServer()) as srv:
        yield srv


@pytest.fixture
def loop_client(server: LoopbackServer) -> Iterator[Callable[..., SellerCenterClient]]:
    made: list[SellerCenterClient] = []

    def make(**overrides: Any) -> SellerCenterClient:
        kwargs: dict[str, Any] = {
            "base_url": server.url,
            "user_id": USER_ID,
            "api_key": API_KEY,
            "seller_id": "SELLER1",
            "business_unit": "FACL",
            "timeout": 5,
            "backoff_base": 0.01,
            "backoff_max": 0.02,
        }
        kwargs.update(overrides)
        client = SellerCenterClient(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.mark.parametrize("value", TRICKY)
def test_server_recomputes_the_signature_for_tricky_values(server, loop_client, value) -> None:
    client = loop_client()
    client.cancel_order_item(77, reason="SHORTAGE", reason_detail=value)
    client.call("GetProducts", {"Search": value, f"X{value[:1]}": "1"})
    assert [s["valid"] for s in server.seen] == [True, True]
    cancel, search = server.seen
    assert cancel["method"] == "POST" and cancel["body"] == b""
    assert cancel["params"]["ReasonDetail"] == value
    assert search["params"]["Search"] == value
    for seen in server.seen:
        assert "+" not in seen["raw"] and " " not in seen["raw"]
        assert seen["agent"].startswith("SELLER1/Python/")


def test_a_wrong_key_is_caught_by_the_server(server, loop_client) -> None:
    client = loop_client(api_key="0" * 40)
    with pytest.raises(Exception) as info:
        client.get_failure_reasons()
    assert getattr(info.value, "code", None) == "E007"
    assert server.seen[0]["valid"] is False


def test_no_secret_in_any_log_line(server, loop_client, caplog) -> None:
    client = loop_client()
    with caplog.at_level(logging.DEBUG):
        client.get_failure_reasons()
        client.cancel_order_item(5, reason_detail="x")
    signatures = [decode_query(s["raw"]).get("Signature") for s in server.seen]
    assert all(server_seen["valid"] for server_seen in server.seen)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "urllib3" in caplog.text or "GET /" in text  # urllib3 really logged its request line
    assert API_KEY not in caplog.text and API_KEY not in text
    for signature in signatures:
        assert signature and signature not in text


def test_keep_alive_connections_are_reused_across_calls_and_threads(server, loop_client) -> None:
    client = loop_client()
    for _ in range(5):
        client.get_failure_reasons()
    assert len({s["peer"] for s in server.seen}) == 1

    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                client.get_failure_reasons()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(server.seen) == 45
    assert len({s["peer"] for s in server.seen}) <= 9  # at most one connection per thread


def test_a_big_body_is_cut_off_at_the_cap(server, loop_client) -> None:
    def stream(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"<A>" + b"x" * 65536 + b"</A>"

        def write(data: bytes) -> None:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        try:
            write(b"<SuccessResponse><Body>")
            for _ in range(1000):  # 64 MiB if nobody stops us
                write(chunk)
                server.sent_bytes += len(chunk)
        except OSError:
            pass
        handler.close_connection = True

    server.behaviour = stream
    client = loop_client(max_response_bytes=256 * 1024, max_retries=1)
    started = time.monotonic()
    with pytest.raises(ResponseError) as info:
        client.get_failure_reasons()
    assert "cap" in str(info.value)
    assert time.monotonic() - started < 5
    time.sleep(0.2)
    assert server.sent_bytes < 32 * 1024 * 1024


def test_a_real_timeout_is_retried_then_reported(server, loop_client) -> None:
    calls = []

    def slow(handler: Handler) -> None:
        calls.append(1)
        time.sleep(0.6)
        handler.close_connection = True

    server.behaviour = slow
    client = loop_client(timeout=0.15, max_retries=2)
    with pytest.raises(TransportError) as info:
        client.cancel_order_item(5)
    assert info.value.attempts == 2
    assert info.value.lost_answer is True
    assert "0.15 s" in str(info.value)
    assert len(calls) == 2


def test_a_dropped_connection_is_retried(server, loop_client) -> None:
    count = {"n": 0}

    def flaky(handler: Handler) -> None:
        count["n"] += 1
        if count["n"] == 1:
            handler.close_connection = True  # no answer at all
            return
        verify_and_answer(handler)

    server.behaviour = flaky
    client = loop_client(max_retries=3)
    assert client.get_failure_reasons() == []
    assert count["n"] == 2


def test_connection_refused_is_retried_and_not_a_lost_answer(loop_client) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = loop_client(base_url=f"http://127.0.0.1:{port}/", max_retries=2)
    with pytest.raises(TransportError) as info:
        client.cancel_order_item(5)
    assert info.value.attempts == 2
    assert info.value.lost_answer is False
    assert "Signature" not in str(info.value) and API_KEY not in str(info.value)
