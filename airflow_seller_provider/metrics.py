"""The provider's metrics, sent through Airflow's own ``Stats``: one home for every name.

They go wherever the deployment sends Airflow's metrics (``[metrics] statsd_on``,
``otel_on``, Datadog), with Airflow's prefix (``[metrics] statsd_prefix``, ``airflow``).

Names and tags follow Airflow's conventions (``ti.finish``, ``dagrun.duration.success``):
lowercase, dot-separated, one name per metric, the variables (connection, action, outcome...)
in **tags**. Plain StatsD drops tags, so, as Airflow does for its own metrics, each metric is
also sent under its **legacy name**, the tag values embedded in the name in a fixed order
(``seller_center.api.calls.<conn_id>.<action>.<outcome>``, as ``ti.finish.<dag_id>.<task_id>.
<state>``), unless ``[metrics] legacy_names_on`` is off (Airflow 3.2+; Airflow 2.11 always
sends both). In a legacy name a value's dots become ``__`` (Airflow's rule), and any character
but letters, digits, ``_`` and ``-`` becomes ``_``.

Every function here is fire-and-forget: a metric that cannot be sent is logged and dropped,
never raised, so a metric never fails a task. Nothing secret is ever a name or a tag: tags are
the connection id, the API action, a bounded outcome vocabulary, the business unit and the
brake's limit; never a key, signature, URL or parameter.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_seller_provider.compat import AIRFLOW_V_3_0_PLUS, Stats, conf

if TYPE_CHECKING:
    from airflow_seller_provider.client.transport import CallRecord

__all__ = [
    "API_CALLS",
    "API_DURATION",
    "API_RETRIES",
    "API_THROTTLES",
    "BRAKE_LIMITS",
    "BRAKE_TRIPS",
    "CANCEL_ITEMS",
    "ITEM_OUTCOMES",
    "METRICS",
    "SHORT_ITEMS",
    "Metric",
    "api_observer",
    "legacy_name",
    "record_api_attempt",
    "record_brake_trip",
    "record_item_outcomes",
    "record_short_items",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric: its name, ``counter`` or ``timer``, its tags (in the order the legacy
    name embeds them), and what it counts."""

    name: str
    kind: str
    tags: tuple[str, ...]
    description: str

    @property
    def legacy_pattern(self) -> str:
        """The legacy name with its variables: ``seller_center.api.calls.{conn_id}...``."""
        return self.name + "".join(f".{{{tag}}}" for tag in self.tags)


API_CALLS = "seller_center.api.calls"
API_RETRIES = "seller_center.api.retries"
API_THROTTLES = "seller_center.api.throttles"
API_DURATION = "seller_center.api.duration"
CANCEL_ITEMS = "seller_center.cancel.items"
SHORT_ITEMS = "seller_center.short_items"
BRAKE_TRIPS = "seller_center.brake_trips"
STOCK_CORRECTIONS = "seller_center.stock.corrections"
NOTIFICATIONS = "seller_center.notifications"

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            API_CALLS,
            "counter",
            ("conn_id", "action", "outcome"),
            "Seller Center API calls, once per call whatever its retries, by how the call "
            "ended: `ok`, the API's error code (`E007`, `HTTP_503`), or for an error without a "
            "code `transport_error` (timeout, reset, gateway page) or `response_error` (an "
            "answer that cannot be read)",
        ),
        Metric(
            API_RETRIES,
            "counter",
            ("conn_id", "action", "outcome"),
            "Attempts that failed and were tried again, by how they failed (`E429`, `E006`, "
            "`transport_error`, `E003` re-signed...)",
        ),
        Metric(
            API_THROTTLES,
            "counter",
            ("conn_id", "action"),
            'Answers "over the rate limit" (E429, HTTP 429), retried or not: lower the '
            "connection's `rate_limit` or the `seller_center` pool",
        ),
        Metric(
            API_DURATION,
            "timer",
            ("conn_id", "action"),
            "Milliseconds a call took, from its start to its final answer: every attempt, and "
            "the rate-limit and backoff waits between them, included",
        ),
        Metric(
            CANCEL_ITEMS,
            "counter",
            ("conn_id", "outcome"),
            "Order items by how CancelOrderItemOperator ended them: `canceled`, "
            "`already_canceled`, `no_longer_pending`, `failed`, `would_cancel` (dry run), "
            "`collateral_canceled` (canceled with a planned item's package, not asked for)",
        ),
        Metric(
            SHORT_ITEMS,
            "counter",
            ("conn_id", "business_unit"),
            "Pending items found short, per connection and business unit (FACL, FACO, FAPE), "
            "each time the plan is made (a re-run counts them again)",
        ),
        Metric(
            BRAKE_TRIPS,
            "counter",
            ("conn_id", "limit"),
            "Runs stopped by the safety brake before any cancellation, by the limit passed: "
            "`max_cancellations`, `max_cancel_fraction` or `max_stock_corrections`",
        ),
        Metric(
            STOCK_CORRECTIONS,
            "counter",
            ("conn_id", "business_unit", "outcome"),
            "Seller Center stock figures the run acted on (`correct_stock=lower`), by how "
            "each ended: `lowered`, `unchanged`, `skipped`, `failed`, `would_lower` (dry run)",
        ),
        Metric(
            NOTIFICATIONS,
            "counter",
            ("conn_id", "kind", "channel", "outcome"),
            "Notices sent or not (`sent`, `failed`: a notice never fails the run), by "
            "connection (`all` for a run over several), kind (`approval_requested`, "
            "`canceled`, `trouble`) and channel (`email`, `slack`)",
        ),
    )
}

ITEM_OUTCOMES = (
    "canceled",
    "already_canceled",
    "no_longer_pending",
    "would_cancel",
    "failed",
    "collateral_canceled",
    "no_longer_short",
)
"""The ``outcome`` tag values of ``seller_center.cancel.items`` (the keys of an
``OutcomePayload``'s counts)."""

BRAKE_LIMITS = ("max_cancellations", "max_cancel_fraction", "max_stock_corrections")

# An API outcome is "ok", a code, or a snake-case error kind: anything else (a code an odd
# server made up) is "other_code", so the tag's values stay few and never echo an answer.
_OUTCOME = re.compile(r"ok|E\d{3}|HTTP_\d{3}|[a-z][a-z_]{0,39}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_MAX_VALUE = 100

_F = TypeVar("_F", bound=Callable[..., None])
_warned = False


def _dropped(what: str, exc: Exception) -> None:
    """A metric that could not be sent: said once at WARNING, then at DEBUG."""
    global _warned
    level = logging.DEBUG if _warned else logging.WARNING
    _warned = True
    log.log(level, "metric not sent (%s): %s: %s", what, type(exc).__name__, exc)


def _never_raises(fn: _F) -> _F:
    """A metric that cannot be sent is logged and dropped: it never fails the caller."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            _dropped(fn.__name__, exc)

    return wrapper  # type: ignore[return-value]  # same signature as fn (functools.wraps)


def _tag_value(value: Any) -> str:
    """A tag value Airflow's backends accept: letters, digits, ``_``, ``.``, ``-``."""
    text = _UNSAFE.sub("_", str(value).strip())[:_MAX_VALUE]
    return text or "unknown"


def _legacy_part(value: str) -> str:
    """A tag value inside a legacy name: its dots become ``__`` (one name part each)."""
    return value.replace(".", "__")


def legacy_name(name: str, tags: Mapping[str, str]) -> str:
    """The legacy name of a metric for these tags (values already cleaned)."""
    metric = METRICS[name]
    return name + "".join(f".{_legacy_part(tags[tag])}" for tag in metric.tags)


def _legacy_names_on() -> bool:
    """Whether legacy names are sent too: ``[metrics] legacy_names_on`` (Airflow 3.2+,
    default True). Airflow 2.11 has no such option and sends both, except to OpenTelemetry,
    whose names it caps at 63 characters (its own long legacy names are exempted by a list;
    ours are not), and which carries the tags anyway."""
    try:
        if not conf.getboolean("metrics", "legacy_names_on", fallback=True):
            return False
        if not AIRFLOW_V_3_0_PLUS:
            otel = conf.getboolean("metrics", "otel_on", fallback=False)
            statsd = conf.getboolean("metrics", "statsd_on", fallback=False) or conf.getboolean(
                "metrics", "statsd_datadog_enabled", fallback=False
            )
            return statsd or not otel
    except Exception:  # an unreadable option: Airflow's default
        return True
    return True


def _send(name: str, tags: Mapping[str, Any], *, count: int = 1, seconds: float = 0.0) -> None:
    metric = METRICS[name]
    clean = {tag: _tag_value(tags[tag]) for tag in metric.tags}
    # The tagged name carries the tags; the legacy name has their values in it already.
    sends: list[tuple[str, dict[str, str] | None]] = [(name, clean)]
    if _legacy_names_on():
        sends.append((legacy_name(name, clean), None))
    for stat, stat_tags in sends:
        try:  # one name refused (too long for a backend...) does not stop the other
            if metric.kind == "timer":
                Stats.timing(stat, timedelta(seconds=max(0.0, seconds)), tags=stat_tags)
            else:
                Stats.incr(stat, count, tags=stat_tags)
        except Exception as exc:
            _dropped(stat, exc)


def _outcome(value: str) -> str:
    return value if _OUTCOME.fullmatch(value) else "other_code"


@_never_raises
def record_api_attempt(conn_id: str, record: CallRecord) -> None:
    """One attempt of an API call (a client's ``CallRecord``): a throttle, a retry, and on
    the call's last attempt the call and its duration."""
    tags = {"conn_id": conn_id, "action": record.action}
    outcome = _outcome(record.outcome)
    if record.throttled:
        _send(API_THROTTLES, tags)
    if record.retry:
        _send(API_RETRIES, {**tags, "outcome": outcome})
    if record.final:
        _send(API_CALLS, {**tags, "outcome": outcome})
        _send(API_DURATION, tags, seconds=record.elapsed)


def api_observer(conn_id: str) -> Callable[[CallRecord], None]:
    """The client observer the hook installs: every attempt of the connection's calls
    becomes metrics tagged with ``conn_id``."""

    def observe(record: CallRecord) -> None:
        record_api_attempt(conn_id, record)

    return observe


@_never_raises
def record_item_outcomes(conn_id: str, counts: Mapping[str, int]) -> None:
    """A cancel task's items by outcome (an ``OutcomePayload``'s ``counts``); outcomes with
    no item send nothing."""
    for outcome in ITEM_OUTCOMES:
        count = int(counts.get(outcome, 0) or 0)
        if count > 0:
            _send(CANCEL_ITEMS, {"conn_id": conn_id, "outcome": outcome}, count=count)


@_never_raises
def record_short_items(conn_id: str, short_by_unit: Mapping[str, int]) -> None:
    """The items a plan found short, per business unit (``{"FACL": 4, "FACO": 2}``); an
    order without a unit counts under ``unknown``."""
    for unit, count in sorted(short_by_unit.items(), key=lambda kv: str(kv[0])):
        number = int(count or 0)
        if number > 0:
            label = str(unit).strip().upper() if unit else "unknown"
            _send(SHORT_ITEMS, {"conn_id": conn_id, "business_unit": label}, count=number)


@_never_raises
def record_brake_trip(conn_id: str, limit: str) -> None:
    """The safety brake stopped a run; ``limit``: ``max_cancellations`` or
    ``max_cancel_fraction``."""
    _send(BRAKE_TRIPS, {"conn_id": conn_id, "limit": limit})


@_never_raises
def record_stock_corrections(conn_id: str, outcomes: Iterable[Mapping[str, Any]]) -> None:
    """Stock corrections by business unit and outcome (``CorrectionOutcome`` dicts)."""
    counts = Counter(
        (str(o.get("business_unit") or "unknown").upper(), _outcome(str(o.get("outcome"))))
        for o in outcomes
    )
    for (unit, outcome), count in sorted(counts.items()):
        _send(
            STOCK_CORRECTIONS,
            {"conn_id": conn_id, "business_unit": unit, "outcome": outcome},
            count=count,
        )


@_never_raises
def record_notification(conn_id: str, kind: str, channel: str, outcome: str) -> None:
    """One notice, by connection, kind, channel and outcome (``sent`` or ``failed``)."""
    _send(
        NOTIFICATIONS,
        {"conn_id": conn_id, "kind": kind, "channel": channel, "outcome": _outcome(outcome)},
    )
