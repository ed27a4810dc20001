"""HTTP plumbing: threads, keep-alive, latency, rate limit, faults, the request log and the
``/_sandbox/...`` inspection endpoints (never subject to faults, limits or latency)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airflow_seller_provider.sandbox import protocol, render
from airflow_seller_provider.sandbox.actions import ACTIONS, Context
from airflow_seller_provider.sandbox.errors import (
    ApiError,
    internal_error,
    invalid_format,
    oms_error,
    too_many_requests,
)
from airflow_seller_provider.sandbox.faults import (
    SHORT_CIRCUIT,
    FaultPlan,
    RateLimiter,
    html_page,
    retry_after_header,
)
from airflow_seller_provider.sandbox.store import OutOfStock, Store

logger = logging.getLogger(__name__)

API_METHODS = ("GET", "POST")
MAX_API_BODY = 1 << 20  # only UpdateStock reads its body; a bigger one is refused (E011)
MAX_CONTROL_BODY = 256 << 20
LOG_LIMIT = 100_000
_UNSET: Any = object()
# A request line carries a live Signature (replayable while its Timestamp is fresh): the
# sandbox's own log lines show it redacted, as the client's do.
_SIGNATURE = re.compile(r"(Signature=)[^&\s'\"<>]*", re.IGNORECASE)


def _redact(value: Any) -> Any:
    return _SIGNATURE.sub(r"\1[redacted]", value) if isinstance(value, str) else value


class SandboxServer:
    """The sandbox on one listening socket. ``start()`` serves from a daemon thread."""

    def __init__(
        self,
        store: Store,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        latency_ms: float = 0.0,
        rate_limit: float | None = None,
        fault_rate: float = 0.0,
        fault_delay_s: float = 40.0,
        fault_kinds: tuple[str, ...] | None = None,
        primary_user: tuple[str, str] | None = None,
        negative_stock: str | None = None,
        cancel_scope: str | None = None,
    ) -> None:
        """``negative_stock`` and ``cancel_scope``: set on the store when given (see
        ``Store``); None keeps the store's."""
        self.store = store
        # Tests only: called as hook(action, params) before each checked API request runs,
        # e.g. to change orders in the middle of a scan (Sandbox.before_action).
        self.before_action: Callable[[str, dict[str, str]], None] | None = None
        if negative_stock is not None:
            store.negative_stock = negative_stock
        if cancel_scope is not None:
            store.cancel_scope = cancel_scope
        self.primary_user = primary_user
        self.faults = FaultPlan(seed, fault_rate, fault_kinds)
        self.limiter = RateLimiter(rate_limit)
        self.latency_ms = latency_ms
        self.fault_delay_s = fault_delay_s
        self._log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ensure_primary_user()
        self.httpd = _HTTPServer((host, port), self)
        self.host, self.port = host, self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"seller-center-sandbox:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections (their threads then end)."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # -- run-time control ----------------------------------------------------------------
    def load_state(self, state: Any) -> None:
        """Replace the state with ``state`` (decoded JSON; ValueError if it does not fit)."""
        self.store.replace(state)
        self._ensure_primary_user()

    def _ensure_primary_user(self) -> None:
        """The credentials the sandbox was started with always log in, whatever state is
        loaded: an existing user keeps its role and seller, a missing one becomes admin of
        the first seller."""
        if self.primary_user is None:
            return
        user_id, api_key = self.primary_user
        existing = self.store.user(user_id)
        if existing is None:
            self.store.put_user(user_id, api_key)
        elif existing.api_key != api_key:
            self.store.put_user(user_id, api_key, role=existing.role, seller_id=existing.seller_id)

    def set_faults(
        self,
        *,
        fault_rate: float | None = None,
        rate_limit: float | None = _UNSET,
        latency_ms: float | None = None,
        fault_delay_s: float | None = None,
        fault_kinds: tuple[str, ...] | list[str] | None = _UNSET,
    ) -> None:
        """Change faults at run time; ``rate_limit=None`` switches the limit off and
        ``fault_kinds=None`` allows every kind again."""
        if fault_rate is not None:
            if not 0.0 <= fault_rate <= 1.0:
                raise ValueError("fault_rate must be within 0..1")
            self.faults.rate = fault_rate
        if rate_limit is not _UNSET:
            self.limiter.rate = rate_limit
        if latency_ms is not None:
            self.latency_ms = max(0.0, latency_ms)
        if fault_delay_s is not None:
            self.fault_delay_s = max(0.0, fault_delay_s)
        if fault_kinds is not _UNSET:
            self.faults.kinds = fault_kinds

    def record(self, entry: dict[str, Any]) -> None:
        self._log.append(entry)

    def requests_log(self) -> list[dict[str, Any]]:
        return [dict(entry) for entry in list(self._log)]

    def clear_requests_log(self) -> None:
        self._log.clear()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn), which can stall; skip it.
        socketserver.TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        self.server_name = str(host)  # a str for AF_INET/AF_INET6, the only families used

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SellerCenterSandbox/1.0"
    sys_version = ""
    wbufsize = 1 << 16  # headers and body leave in one write (flushed after each request)
    disable_nagle_algorithm = True
    timeout = 300  # an idle keep-alive connection is closed after this many seconds
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.sandbox.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox.track(self.connection, False)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base signature)
        logger.debug("%s " + format, self.address_string(), *map(_redact, args))

    def do_GET(self) -> None:
        try:
            self._dispatch()
        except Exception:
            logger.exception("sandbox failed on %s %s", self.command, _redact(self.path[:200]))
            self.close_connection = True
            body, ctype = render.error(internal_error(), "", "XML")
            with contextlib.suppress(OSError):
                self._write(500, body, ctype)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # -- plumbing ----------------------------------------------------------------------
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors http.server raises itself (line too long, bad request line, too many
        headers, unknown method) as ErrorResponses; the connection is then closed."""
        self.close_connection = True
        if code in (414, 431):
            err = ApiError(11, "E011: Request too big", http_status=code)
        else:
            err = invalid_format(message or "malformed HTTP request")
            err.http_status = code
        body, ctype = render.error(err, "", "XML")
        self.server.sandbox.record(_entry(self.command or "", "", "", err.verdict, code))
        self._write(code, body, ctype)

    def _write(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self, limit: int) -> bytes | None:
        """The request body, or None when it cannot be read safely (then the connection is
        closed after the answer)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return None
        if length < 0 or length > limit:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        if path.startswith("/_sandbox"):
            self._control(path)
        elif path == "/":
            self._api(query.encode("latin-1"))
        else:
            self._read_body(MAX_API_BODY)
            self._write(404, b"Not Found\n", "text/plain; charset=utf-8")

    def _sleep_latency(self) -> None:
        latency = self.server.sandbox.latency_ms
        if latency > 0:
            time.sleep(latency / 1000.0)

    def _drop(self) -> None:
        """Close without answering, as a failing gateway does."""
        self.close_connection = True

    # -- the API -----------------------------------------------------------------------
    def _api(self, raw_query: bytes) -> None:
        sandbox = self.server.sandbox
        method = self.command
        try:
            params: dict[str, str] = protocol.parse_query(raw_query)
            parse_error: ApiError | None = None
        except ApiError as err:
            params, parse_error = {}, err
        action = params.get("Action", "")[:100]
        fmt = protocol.response_format(params)
        entry = _entry(method, action, params.get("UserID", "")[:200], "", 0)
        entry["user_agent"] = self.headers.get("User-Agent", "")[:300]
        entry["params"] = {k[:50]: v[:200] for k, v in params.items() if k != "Signature"}

        body = self._read_body(MAX_API_BODY)
        if body is None:
            self._finish_error(
                ApiError(11, "E011: Request too big", http_status=413), action, fmt, entry
            )
            return
        if method not in API_METHODS:
            self.close_connection = True
            not_allowed = ApiError(
                5,
                f"E005: Invalid Request Format (method {method[:20]} not allowed)",
                http_status=405,
                headers={"Allow": ", ".join(API_METHODS)},
            )
            self._finish_error(not_allowed, action, fmt, entry)
            return

        fault = sandbox.faults.draw(action)
        entry["fault"] = fault
        if fault in SHORT_CIRCUIT:
            self._sleep_latency()
            self._answer_fault(fault, action, fmt, entry)
            return

        status, headers, answer, ctype, result = self._run(method, params, parse_error, fmt, body)
        entry["result"] = result
        if fault == "delay":
            time.sleep(sandbox.fault_delay_s)
        self._sleep_latency()
        if fault == "lost":
            self._drop()
            entry.update(verdict="lost", http_status=None)
            sandbox.record(entry)
        else:
            # Logged before the answer leaves: a client holding the answer finds it logged.
            entry.update(verdict=fault or result, http_status=status)
            sandbox.record(entry)
            self._write(status, answer, ctype, headers)

    def _finish_error(self, err: ApiError, action: str, fmt: str, entry: dict[str, Any]) -> None:
        body, ctype = render.error(err, action, fmt)
        entry.update(verdict=err.verdict, result=err.verdict, http_status=err.http_status)
        self.server.sandbox.record(entry)
        self._write(err.http_status, body, ctype, err.headers)

    def _run(
        self,
        method: str,
        params: dict[str, str],
        parse_error: ApiError | None,
        fmt: str,
        request_body: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes, str, str]:
        """Check and run one API request: (status, headers, body, content type, verdict)."""
        sandbox = self.server.sandbox
        action = params.get("Action", "")[:100]
        try:
            if parse_error is not None:
                raise parse_error
            name = protocol.check_common(params)
            user = protocol.authenticate(params, sandbox.store)
            protocol.check_known(name, ACTIONS.__contains__)
            spec = ACTIONS[name]
            protocol.check_method(name, method, spec.methods)
            protocol.check_role(user, spec.writes)
            wait = sandbox.limiter.acquire(user.user_id)
            if wait is not None:
                raise too_many_requests(retry_after_header(wait))
            user_agent = self.headers.get("User-Agent", "")
            hook = sandbox.before_action
            if hook is not None:
                hook(name, dict(params))
            result = spec.handler(Context(params, user, sandbox.store, request_body, user_agent))
            body, ctype = render.success(name, result.response_type, result.body, fmt, result.head)
            return 200, {}, body, ctype, "ok"
        except ApiError as err:
            body, ctype = render.error(err, action, fmt)
            return err.http_status, err.headers, body, ctype, err.verdict
        except Exception:
            logger.exception("sandbox action %s failed", action)
            failure = internal_error()
            body, ctype = render.error(failure, action, fmt)
            return failure.http_status, {}, body, ctype, failure.verdict

    def _answer_fault(self, fault: str, action: str, fmt: str, entry: dict[str, Any]) -> None:
        """Answer a short-circuit fault; the request is not run, the state not touched.
        The entry is logged before the answer leaves."""
        record = self.server.sandbox.record
        entry["verdict"] = fault
        if fault == "drop":
            entry["http_status"] = None
            record(entry)
            self._drop()
            return
        if fault.startswith("HTTP_"):
            code = int(fault[5:])
            entry["http_status"] = code
            record(entry)
            self._write(code, html_page(code), "text/html; charset=utf-8")
            return
        if fault == "E429":
            err = too_many_requests(1 if self.server.sandbox.faults.coin() else None)
        elif fault == "E006":
            err = internal_error()
        else:
            err = oms_error()
        body, ctype = render.error(err, action, fmt)
        entry["http_status"] = err.http_status
        record(entry)
        self._write(err.http_status, body, ctype, err.headers)

    # -- inspection endpoints ------------------------------------------------------------
    def _control(self, path: str) -> None:
        sandbox = self.server.sandbox
        method = self.command
        raw = self._read_body(MAX_CONTROL_BODY)
        route = path.rstrip("/")
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            self._json(400, {"error": "body is not JSON"})
            return
        try:
            if method == "GET" and route == "/_sandbox/health":
                self._json(200, {"status": "ok"})
            elif method == "GET" and route == "/_sandbox/state":
                self._json(200, sandbox.store.snapshot())
            elif method in ("POST", "PUT") and route == "/_sandbox/state":
                sandbox.load_state(payload)
                self._json(200, {"status": "ok"})
            elif method == "GET" and route == "/_sandbox/requests":
                self._json(200, sandbox.requests_log())
            elif method == "DELETE" and route == "/_sandbox/requests":
                sandbox.clear_requests_log()
                self._json(200, {"status": "ok"})
            elif method == "GET" and route == "/_sandbox/cancellations":
                counts = sandbox.store.cancellation_counts()
                self._json(200, {str(k): v for k, v in sorted(counts.items())})
            elif method == "POST" and route == "/_sandbox/ready_to_ship":
                if not isinstance(payload, dict) or not isinstance(
                    payload.get("order_item_ids"), list
                ):
                    raise ValueError('body must be {"order_item_ids": [...]}')
                ids = [_item_id(i) for i in payload["order_item_ids"]]
                moved = sandbox.store.set_ready_to_ship(ids)
                self._json(
                    200, {"status": "ok", "order_item_ids": [i["order_item_id"] for i in moved]}
                )
            elif method == "POST" and route == "/_sandbox/orders":
                try:
                    self._json(201, sandbox.store.place_order(payload))
                except OutOfStock as exc:
                    self._json(409, {"error": str(exc), "sku": exc.sku})
            elif method == "POST" and route == "/_sandbox/faults":
                sandbox.set_faults(**_fault_settings(payload))
                self._json(200, {"status": "ok"})
            elif method == "POST" and route == "/_sandbox/users":
                if not isinstance(payload, dict):
                    raise ValueError("body must be a JSON object")
                sandbox.store.put_user(
                    str(payload["user_id"]),
                    str(payload["api_key"]),
                    role=str(payload.get("role", "read_only")),
                    seller_id=payload.get("seller_id"),
                )
                self._json(200, {"status": "ok"})
            else:
                self._json(404, {"error": f"no {method} {route}"})
        except (ValueError, KeyError, TypeError) as exc:
            self._json(400, {"error": str(exc)})

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        self._write(status, body, render.JSON_TYPE)


def _entry(method: str, action: str, user_id: str, verdict: str, status: int) -> dict[str, Any]:
    return {
        "time": time.time(),
        "method": method,
        "action": action,
        "user_id": user_id,
        "verdict": verdict,
        "http_status": status,
        "fault": None,
        "result": verdict or None,
    }


def _item_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not an order item id")
    return int(value)


def _fault_settings(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValueError("body must be a JSON object")
    numbers = {"fault_rate", "rate_limit", "latency_ms", "fault_delay_s"}
    unknown = set(payload) - numbers - {"fault_kinds"}
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    settings: dict[str, Any] = {
        k: (float(v) if v is not None else None) for k, v in payload.items() if k in numbers
    }
    if "fault_kinds" in payload:
        kinds = payload["fault_kinds"]
        if kinds is not None and not (
            isinstance(kinds, list) and all(isinstance(k, str) for k in kinds)
        ):
            raise ValueError("fault_kinds must be a list of names or null")
        settings["fault_kinds"] = kinds
    return settings
