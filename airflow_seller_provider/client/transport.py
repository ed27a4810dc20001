"""HTTP for Seller Center: one session, signing per attempt, pacing, bounded retries.

Every attempt is signed afresh (new Timestamp, new Signature) and the URL is assembled by
hand, ``base_url?<canonical query>&Signature=<sig>``, so the query sent is byte for byte the
one that was signed. Retries are bounded both in attempts and in total time; their waits go
through ``Transport.sleep`` and ``Transport.clock``, which tests replace.

Neither the API key nor a Signature ever reaches a log line or an exception: errors quote
requests' exceptions with their query string removed, and a filter redacts signatures from
urllib3's own debug lines (which print the request line).

An ``observer`` (any callable) is told of every attempt with a ``CallRecord``: the action,
how the attempt ended, its latency, and whether it is retried or ends the call. The records
hold no parameter, URL, key or signature. An observer that raises is logged and ignored: it
never fails a call (the Airflow hook's observer turns records into metrics).
"""

from __future__ import annotations

import email.utils
import logging
import math
import platform
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import requests
from requests.adapters import HTTPAdapter

from airflow_seller_provider import __version__
from airflow_seller_provider.client import retry_policy
from airflow_seller_provider.client.errors import (
    ClockSkewError,
    ResponseError,
    SellerCenterError,
    ThrottlingError,
    error_of_kind,
    kind_names,
)
from airflow_seller_provider.client.models import Response
from airflow_seller_provider.client.parsing import parse_response, redact
from airflow_seller_provider.client.signing import (
    canonical_query,
    sign_query,
    utc_timestamp,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "Attempt",
    "CallObserver",
    "CallRecord",
    "CallSettings",
    "DEFAULT_MAX_CONCURRENCY",
    "POOL_MAXSIZE",
    "Pacer",
    "Transport",
    "build_user_agent",
    "call_outcome",
    "parse_retry_after",
]

log = logging.getLogger("airflow_seller_provider.client")

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
# Calls a scan or a cancel task keeps in flight at once unless told otherwise (its
# ``max_concurrency``); the pool keeps up to POOL_MAXSIZE connections for them.
DEFAULT_MAX_CONCURRENCY = 8
POOL_MAXSIZE = 32
CHUNK_BYTES = 64 * 1024
_QUERY = re.compile(r"\?[^\s'\"()<>]*")
_NOT_SENT_MARKERS = ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")


def build_user_agent(
    seller_id: str | None, business_unit: str | None, integration: str = "PROPIA"
) -> tuple[str, bool]:
    """``(user_agent, five_part)``: Falabella's ``SELLER/Python/3.11.7/PROPIA/FACL`` when the
    seller id and business unit are known, else a generic one (five_part False)."""
    python = platform.python_version()
    if seller_id and business_unit:
        return f"{seller_id}/Python/{python}/{integration}/{business_unit}", True
    return f"airflow-seller-provider/{__version__}/Python/{python}", False


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds: delta-seconds or an HTTP date; None if absent
    or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Pacer:
    """A requests-per-second budget shared by every thread using one client.

    Two rules, both kept for every request:

    - **a burst of half a second:** calls are paced 1/rate apart, but up to ``burst``
      (``rate // 2``, at least 1) may start ahead of that pace (a token bucket of ``burst``
      tokens refilled at ``rate``, computed as GCRA). A scan's first calls (the pages and
      item batches the first page makes known) then need not queue 1/rate apart;
    - **never more than the budget in a second:** at most ``floor(rate)`` (at least 1)
      starts in any window of ``floor(rate) / rate`` seconds: one second for a whole-number
      rate, ``1/rate`` seconds below one request per second.

    A steady stream therefore runs at the rate, as before; and a server that counts a
    token bucket of one second's budget keeps half of it free for network jitter. Each
    caller reserves its slot under a lock and waits outside it.
    """

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate limit {rate!r} must be a positive number of requests/s")
        self.rate = float(rate)
        self.interval = 1.0 / self.rate
        self.burst = max(1, int(self.rate // 2))
        self.per_window = max(1, int(self.rate))
        self.window = self.per_window / self.rate  # one second for a whole-number rate
        self._lock = threading.Lock()
        self._due = -math.inf  # GCRA's theoretical time of the next paced start
        self._starts: deque[float] = deque(maxlen=self.per_window)  # the latest starts

    def reserve(self, now: float) -> float:
        """Take the next slot; returns how long to wait (seconds) before using it."""
        with self._lock:
            slot = max(now, self._due - (self.burst - 1) * self.interval)
            if slot - now < 1e-9:  # sums of intervals drift by a few ulps
                slot = now
            if self._starts:
                slot = max(slot, self._starts[-1])  # slots are handed out in order
            if len(self._starts) == self.per_window:
                slot = max(slot, self._starts[0] + self.window)
            self._due = max(self._due, slot) + self.interval
            self._starts.append(slot)
        return slot - now


@dataclass(frozen=True, slots=True)
class CallSettings:
    """Where and how a client's calls are made: the client's attributes of the same names
    (its keywords, checked by ``SellerCenterClient``; the User-Agent it builds), read by its
    ``Transport``. The API key is not one of them: it is passed on its own."""

    base_url: str
    user_id: str
    user_agent: str
    response_format: str
    timeout: float
    max_retries: int
    max_retry_time: float
    backoff_base: float
    backoff_max: float
    rate_limit: float | None
    max_response_bytes: int

    @classmethod
    def of(cls, source: object) -> CallSettings:
        """The settings ``source`` (a client) holds as attributes of the same names."""
        return cls(**{field.name: getattr(source, field.name) for field in fields(cls)})


@dataclass(frozen=True, slots=True)
class Attempt:
    """One signed request of a call and how it ended: ``response`` or ``error``.

    ``timestamp`` is the Timestamp it was signed with (quoted when E003 comes back after a
    re-sign); ``may_have_applied``: a POST that left this machine and failed without a
    clear no, so the server may have applied it (see ``retry_policy.may_have_applied``).
    """

    number: int
    timestamp: str
    response: Response | None = None
    error: SellerCenterError | None = None
    may_have_applied: bool = False
    latency: float = 0.0


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What an observer learns of one attempt of a call (nothing secret: no parameter, URL,
    key or signature).

    - ``action``: the call (``GetOrders``); ``attempt``: 1 for the first request;
    - ``outcome``: ``"ok"``, the error code (``"E028"``, ``"HTTP_503"``), or, for an error
      without a code, its kind in snake case (``"transport_error"``, ``"response_error"``);
    - ``code``: the error code (None when ``ok`` or uncoded);
    - ``latency``: seconds this attempt's request took, from sending to the answer read
      (the rate-limit wait before it is not counted);
    - ``elapsed``: seconds since the call began (every attempt, rate-limit and backoff wait
      included): on the ``final`` record, the call's duration;
    - ``retry``: this attempt failed and the call tries again;
    - ``throttled``: the API answered "over the rate limit" (E429, HTTP 429);
    - ``final``: the call ends with this attempt (its outcome is the call's).
    """

    action: str
    attempt: int
    outcome: str
    code: str | None
    latency: float
    elapsed: float
    retry: bool
    throttled: bool
    final: bool


CallObserver = Callable[[CallRecord], None]


def call_outcome(error: SellerCenterError | None) -> str:
    """A record's ``outcome``: ``ok``, the error's code, or its kind in snake case."""
    if error is None:
        return "ok"
    if error.code:
        return error.code
    name = type(error).__name__
    if name == "SellerCenterError":
        return "error"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(slots=True)
class _Exchange:
    """What one exchange learned on the way: whether the request may have left this
    machine, and the HTTP status of the answer (None: no answer)."""

    sent: bool = False
    status: int | None = None


class _RedactSignatures(logging.Filter):
    """urllib3 logs each request line at DEBUG, query string and Signature included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "Signature=" in record.msg:
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple) and any(
            isinstance(arg, str) and "Signature=" in arg for arg in record.args
        ):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


_URLLIB3_FILTER = _RedactSignatures()
logging.getLogger("urllib3.connectionpool").addFilter(_URLLIB3_FILTER)


class Transport:
    """Signs, paces, sends, reads (bounded) and retries one Seller Center call at a time.

    Thread-safe: one instance (one ``requests.Session``, one pacer) serves many threads.
    ``sleep``, ``clock`` (monotonic seconds), ``utc_now`` (for Timestamps) and ``rng``
    (jitter in [0, 1)) are plain attributes so tests can replace them; so is ``observer``,
    told of every attempt (``CallRecord``). ``settings`` (timeout, retries, backoff, rate
    limit, format, body cap) are the client's, checked there.
    """

    def __init__(
        self,
        settings: CallSettings,
        api_key: str,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        utc_now: Callable[[], datetime] | None = None,
        rng: Callable[[], float] = random.random,
        observer: CallObserver | None = None,
    ) -> None:
        self.settings = settings
        self._api_key = api_key
        self.limiter = Pacer(settings.rate_limit) if settings.rate_limit else None
        self.sleep = sleep
        self.clock = clock
        self.utc_now = utc_now or (lambda: datetime.now(UTC))
        self.rng = rng
        self.observer = observer
        self._observer_failed = False
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_MAXSIZE, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        accept = "application/json" if settings.response_format == "JSON" else "application/xml"
        self._headers = {"User-Agent": settings.user_agent, "Accept": accept}

    def __repr__(self) -> str:
        return (
            f"Transport(base_url={self.settings.base_url!r}, user_id={self.settings.user_id!r}, "
            f"format={self.settings.response_format!r})"
        )

    def close(self) -> None:
        """Close the session if this transport made it (a caller's session is theirs)."""
        if self._owns_session:
            self.session.close()

    # ------------------------------------------------------------------ the call

    def request(
        self,
        action: str,
        params: Mapping[str, str],
        method: str,
        *,
        version: str,
        body: bytes | None,
    ) -> Response:
        """One API call, retried as its errors allow. Raises the last error, with
        ``attempts`` and ``lost_answer`` set. ``body`` (never signed) goes with a POST.
        The arguments are ``SellerCenterClient.call``'s, checked there (with its defaults)."""
        start = self.clock()
        deadline = start + self.settings.max_retry_time
        number = 0
        lost = False
        resigned = False
        while True:
            number += 1
            attempt = self._attempt(action, params, method, number, version, body)
            error = attempt.error
            if error is None:
                assert attempt.response is not None
                self._observe(action, attempt, start, retry=False)
                return attempt.response
            lost = lost or attempt.may_have_applied
            step = retry_policy.retry_step(error.code, error.retryable, resigned=resigned)
            if number < self.settings.max_retries and step is not retry_policy.How.FAIL:
                # After E003 a fresh Timestamp is the whole fix: re-sign at once, no wait.
                resign = step is retry_policy.How.RESIGN_ONCE
                delay = 0.0 if resign else self._delay(number, error.retry_after)
                if self.clock() + delay <= deadline:
                    resigned = resigned or resign
                    self._observe(action, attempt, start, retry=True)
                    log.warning(
                        "attempt %d of %d failed: %s; retrying in %.2f s",
                        number,
                        self.settings.max_retries,
                        error,
                        delay,
                    )
                    if delay > 0:
                        self.sleep(delay)
                    continue
                log.warning(
                    "giving up after %d attempt(s) in %.1f s, the next wait (%.1f s) would pass "
                    "max_retry_time: %s",
                    number,
                    self.clock() - start,
                    delay,
                    error,
                )
            if resigned and retry_policy.resigns(error.code):
                error = self._clock_skew(error, attempt.timestamp)
            error.attempts = number
            error.lost_answer = lost
            self._observe(action, attempt, start, retry=False)
            raise error

    def _observe(self, action: str, attempt: Attempt, start: float, *, retry: bool) -> None:
        """Tell the observer how an attempt ended; an observer that fails is logged, never
        raised (it must not fail the call)."""
        observer = self.observer
        if observer is None:
            return
        try:
            error = attempt.error
            record = CallRecord(
                action=action,
                attempt=attempt.number,
                outcome=call_outcome(error),
                code=error.code if error is not None else None,
                latency=attempt.latency,
                elapsed=max(0.0, self.clock() - start),
                retry=retry,
                throttled=isinstance(error, ThrottlingError),
                final=not retry,
            )
            observer(record)
        except Exception as exc:  # an observer never fails a call
            # Said once per transport at WARNING (a broken observer fails on every attempt).
            level = logging.DEBUG if self._observer_failed else logging.WARNING
            self._observer_failed = True
            log.log(level, "the call observer failed (ignored): %s: %s", type(exc).__name__, exc)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff; a Retry-After is honoured (plus a little jitter
        so that threads told the same moment do not all return at once)."""
        if retry_after is not None:
            return retry_after + self.rng() * self.settings.backoff_base
        ceiling = min(
            self.settings.backoff_max, self.settings.backoff_base * float(2 ** (attempt - 1))
        )
        return self.rng() * ceiling

    def _clock_skew(self, error: SellerCenterError, sent: str) -> ClockSkewError:
        return ClockSkewError(
            f"{error.message} (re-signed with a fresh Timestamp, {sent}, and rejected again: "
            "this machine's clock is off)",
            code="E003",
            action=error.action,
            http_status=error.http_status,
            details=error.details,
        )

    # --------------------------------------------------------------- one attempt

    def _attempt(
        self,
        action: str,
        params: Mapping[str, str],
        method: str,
        number: int,
        version: str,
        body: bytes | None,
    ) -> Attempt:
        """Sign, pace, send and read one request; its answer, or its error, in an Attempt."""
        if self.limiter is not None:
            wait = self.limiter.reserve(self.clock())
            if wait > 0:
                self.sleep(wait)
        timestamp = utc_timestamp(self.utc_now())
        signed = {
            **params,
            "Action": action,
            "Format": self.settings.response_format,
            "Timestamp": timestamp,
            "UserID": self.settings.user_id,
            "Version": version,
        }
        query = canonical_query(signed)
        url = f"{self.settings.base_url}?{query}&Signature={sign_query(query, self._api_key)}"
        started = self.clock()
        exchange = _Exchange()
        outcome = "ok"
        try:
            response = self._exchange(action, method, url, exchange, body)
        except SellerCenterError as exc:
            outcome = exc.code or type(exc).__name__
            applied = (
                method.upper() == "POST"
                and exchange.sent
                and retry_policy.may_have_applied(kind_names(exc), exc.code, exchange.status)
            )
            latency = max(0.0, self.clock() - started)
            return Attempt(number, timestamp, error=exc, may_have_applied=applied, latency=latency)
        finally:
            if log.isEnabledFor(logging.DEBUG):
                status = exchange.status
                log.debug(
                    "%s attempt %d: %s in %.3f s (%s)",
                    action,
                    number,
                    f"HTTP {status}" if status is not None else "no answer",
                    self.clock() - started,
                    outcome,
                )
        return Attempt(
            number, timestamp, response=response, latency=max(0.0, self.clock() - started)
        )

    def _exchange(
        self,
        action: str,
        method: str,
        url: str,
        exchange: _Exchange,
        body: bytes | None = None,
    ) -> Response:
        # Errors are raised outside the ``except`` blocks so that they carry no chained
        # requests exception, whose text holds the signed URL.
        failure: SellerCenterError | None = None
        try:
            response = self.session.request(
                method,
                url,
                headers=self._headers
                if body is None
                else {**self._headers, "Content-Type": "application/xml; charset=utf-8"},
                data=body,
                timeout=(self.settings.timeout, self.settings.timeout),
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            exchange.sent = _may_have_been_sent(exc)
            failure = self._exception_error(exc, action)
        if failure is not None:
            raise failure
        exchange.sent = True
        status = exchange.status = response.status_code
        try:
            try:
                data = self._read_body(response, action)
            except requests.RequestException as exc:
                failure = self._exception_error(exc, action)
            if failure is not None:
                raise failure
            if 300 <= status < 400:
                raise _redirect_error(response, action)
            try:
                return parse_response(
                    data,
                    action=action,
                    http_status=status,
                    response_format=self.settings.response_format,
                    content_type=response.headers.get("Content-Type"),
                    secrets=(self._api_key,),
                )
            except SellerCenterError as exc:
                header = response.headers.get("Retry-After")
                if (
                    header
                    and exc.retry_after is None
                    and retry_policy.honours_retry_after(exc.retryable, status)
                ):
                    exc.retry_after = parse_retry_after(header, self.utc_now())
                raise
        finally:
            response.close()

    def _read_body(self, response: requests.Response, action: str) -> bytes:
        """The body, refusing past ``max_response_bytes`` without reading it all (memory stays
        bounded; the cap counts decoded bytes, so a compressed bomb is cut short too)."""
        cap = self.settings.max_response_bytes
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and int(declared) > cap:
            raise _too_big(action, response.status_code, cap, int(declared))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            size += len(chunk)
            if size > cap:
                raise _too_big(action, response.status_code, cap, None)
            chunks.append(chunk)
        return b"".join(chunks)

    def _exception_error(self, exc: requests.RequestException, action: str) -> SellerCenterError:
        detail = _describe(exc, (self._api_key,))
        fault = _fault(exc)
        if fault == "tls":
            text = f"TLS failed ({detail}); check the base URL and the machine's CA certificates"
        elif fault == "bad_request":
            text = f"the request could not be built ({detail})"
        elif fault == "connect_timeout":
            text = f"could not connect within {self.settings.timeout:g} s ({detail})"
        elif fault == "timeout":
            text = f"no answer within {self.settings.timeout:g} s ({detail})"
        else:
            text = f"the connection failed ({detail})"
        return error_of_kind(retry_policy.FAULTS[fault], text, action=action)


def _fault(exc: requests.RequestException) -> str:
    """Which ``retry_policy.FAULTS`` entry a requests exception is."""
    exceptions = requests.exceptions
    if isinstance(exc, exceptions.SSLError):
        return "tls"
    if isinstance(
        exc,
        exceptions.InvalidURL
        | exceptions.InvalidSchema
        | exceptions.MissingSchema
        | exceptions.InvalidHeader,
    ):
        return "bad_request"
    if isinstance(exc, exceptions.ConnectTimeout):
        return "connect_timeout"
    if isinstance(exc, exceptions.Timeout):
        return "timeout"
    return "connection"


def _describe(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """requests' exception text, with any URL query (it holds the Signature) removed."""
    text = _QUERY.sub("?[query]", str(exc))
    text = redact(text, secrets)
    text = " ".join(text.split())
    return f"{type(exc).__name__}: {text[:300]}"


def _may_have_been_sent(exc: BaseException) -> bool:
    """False only when the failure was clearly before the request left (no connection)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if type(item).__name__ in _NOT_SENT_MARKERS:
            return False
        if isinstance(item, BaseException):
            pending.extend(item.args)
            pending.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
    return True


def _too_big(action: str, status: int, cap: int, declared: int | None) -> ResponseError:
    size = f"declares {declared} bytes, over" if declared is not None else "went past"
    return ResponseError(
        f"the answer (HTTP {status}) {size} the {cap}-byte cap (max_response_bytes); ask for "
        "fewer records per call (page_size, batch sizes) or raise max_response_bytes",
        action=action,
        http_status=status,
    )


def _redirect_error(response: requests.Response, action: str) -> ResponseError:
    location = response.headers.get("Location", "")
    location = location.split("?", 1)[0][:200]
    return ResponseError(
        f"HTTP {response.status_code} redirect to {location or 'elsewhere'}; signed calls are "
        "not followed: set the base URL to the final address",
        code=f"HTTP_{response.status_code}",
        action=action,
        http_status=response.status_code,
    )
