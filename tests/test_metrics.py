"""metrics.py: names, tags, legacy names, and that a metric never fails a task; the hook's
observer and the operator's item counts, with Airflow's ``Stats`` replaced by a recorder.

(The real path, Airflow's StatsD client over UDP from a DAG run, is tests/e2e/test_metrics_dag.py.)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_seller_provider import metrics
from airflow_seller_provider.client.transport import CallRecord
from airflow_seller_provider.compat import AirflowFailException
from airflow_seller_provider.hooks.seller_center import SellerCenterHook
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
from airflow_seller_provider.operators.outcomes import OUTCOMES, outcome_payload
from airflow_seller_provider.sandbox.testing import run_sandbox
from tests.support import FakeTI

METRICS_DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
CONN_ID = "sc_metrics_test"


class FakeStats:
    """Stands in for Airflow's Stats: records (kind, name, value, tags)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any, dict[str, str] | None]] = []

    def incr(self, stat: str, count: int = 1, rate: float = 1, *, tags=None) -> None:
        self.sent.append(("counter", stat, count, tags))

    def timing(self, stat: str, dt: Any, *, tags=None) -> None:
        self.sent.append(("timer", stat, dt, tags))

    def counts(self) -> Counter[str]:
        """Counter totals by name (tagged and legacy names alike)."""
        total: Counter[str] = Counter()
        for kind, stat, value, _ in self.sent:
            if kind == "counter":
                total[stat] += value
        return total

    def tagged(self, name: str) -> list[tuple[Any, dict[str, str]]]:
        return [(value, tags) for _, stat, value, tags in self.sent if stat == name]


@pytest.fixture
def stats(monkeypatch) -> FakeStats:
    fake = FakeStats()
    monkeypatch.setattr(metrics, "Stats", fake)
    monkeypatch.delenv("AIRFLOW__METRICS__LEGACY_NAMES_ON", raising=False)
    return fake


def record(**fields: Any) -> CallRecord:
    base: dict[str, Any] = {
        "action": "GetOrders",
        "attempt": 1,
        "outcome": "ok",
        "code": None,
        "latency": 0.02,
        "elapsed": 0.25,
        "retry": False,
        "throttled": False,
        "final": True,
    }
    base.update(fields)
    return CallRecord(**base)


# ------------------------------------------------------------------ names and tags


def test_every_name_is_airflow_style() -> None:
    for name, metric in metrics.METRICS.items():
        assert name == metric.name
        assert re.fullmatch(r"seller_center(\.[a-z][a-z_]*)+", name), name
        assert metric.kind in ("counter", "timer")
        assert metric.tags and metric.tags[0] == "conn_id"
    # One home for each name: the constants are the table's names.
    constants = {
        value
        for key, value in vars(metrics).items()
        if key.isupper() and isinstance(value, str) and value.startswith("seller_center.")
    }
    assert constants == set(metrics.METRICS)


def test_item_outcomes_are_the_operators_counts() -> None:
    counts = outcome_payload([], dry_run=False)["counts"]
    assert set(counts) == {*OUTCOMES, "collateral_canceled"}
    # The approval's re-decision adds no_longer_short to its task's counts.
    assert set(metrics.ITEM_OUTCOMES) == {*counts, "no_longer_short"}


def test_a_final_ok_call_is_a_call_and_a_duration(stats) -> None:
    metrics.record_api_attempt("conn_a", record())
    assert stats.sent == [
        (
            "counter",
            metrics.API_CALLS,
            1,
            {"conn_id": "conn_a", "action": "GetOrders", "outcome": "ok"},
        ),
        ("counter", "seller_center.api.calls.conn_a.GetOrders.ok", 1, None),
        (
            "timer",
            metrics.API_DURATION,
            timedelta(seconds=0.25),
            {"conn_id": "conn_a", "action": "GetOrders"},
        ),
        ("timer", "seller_center.api.duration.conn_a.GetOrders", timedelta(seconds=0.25), None),
    ]


def test_a_throttled_attempt_that_is_retried(stats) -> None:
    metrics.record_api_attempt(
        "conn_a", record(outcome="E429", code="E429", retry=True, throttled=True, final=False)
    )
    assert stats.counts() == {
        metrics.API_THROTTLES: 1,
        "seller_center.api.throttles.conn_a.GetOrders": 1,
        metrics.API_RETRIES: 1,
        "seller_center.api.retries.conn_a.GetOrders.E429": 1,
    }
    assert stats.tagged(metrics.API_RETRIES) == [
        (1, {"conn_id": "conn_a", "action": "GetOrders", "outcome": "E429"})
    ]
    assert not stats.tagged(metrics.API_CALLS)  # not the call's end yet


def test_a_final_failure_counts_its_code(stats) -> None:
    metrics.record_api_attempt("conn_a", record(outcome="HTTP_503", code="HTTP_503"))
    metrics.record_api_attempt("conn_a", record(outcome="transport_error"))
    assert stats.counts()["seller_center.api.calls.conn_a.GetOrders.HTTP_503"] == 1
    assert stats.counts()["seller_center.api.calls.conn_a.GetOrders.transport_error"] == 1


def test_an_outcome_outside_the_vocabulary_is_other_code(stats) -> None:
    metrics.record_api_attempt("conn_a", record(outcome="XYZ<1>", code="XYZ<1>"))
    assert stats.tagged(metrics.API_CALLS)[0][1]["outcome"] == "other_code"


def test_legacy_names_can_be_switched_off(stats, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__METRICS__LEGACY_NAMES_ON", "False")
    metrics.record_api_attempt("conn_a", record())
    metrics.record_brake_trip("conn_a", "max_cancellations")
    assert {stat for _, stat, _, _ in stats.sent} == {
        metrics.API_CALLS,
        metrics.API_DURATION,
        metrics.BRAKE_TRIPS,
    }


def test_odd_connection_ids_are_cleaned_and_dots_kept_apart(stats) -> None:
    metrics.record_brake_trip("shop.cl prod/1", "max_cancel_fraction")
    assert stats.sent == [
        (
            "counter",
            metrics.BRAKE_TRIPS,
            1,
            {"conn_id": "shop.cl_prod_1", "limit": "max_cancel_fraction"},
        ),
        ("counter", "seller_center.brake_trips.shop__cl_prod_1.max_cancel_fraction", 1, None),
    ]


def test_item_outcomes_send_only_what_happened(stats) -> None:
    metrics.record_item_outcomes(
        "conn_b", {"canceled": 3, "already_canceled": 0, "failed": 2, "would_cancel": 0}
    )
    assert stats.counts() == {
        metrics.CANCEL_ITEMS: 5,
        "seller_center.cancel.items.conn_b.canceled": 3,
        "seller_center.cancel.items.conn_b.failed": 2,
    }
    assert sorted(t["outcome"] for _, t in stats.tagged(metrics.CANCEL_ITEMS)) == [
        "canceled",
        "failed",
    ]


def test_short_items_per_business_unit(stats) -> None:
    metrics.record_short_items("conn_c", {"FACL": 4, "faco": 2, "FAPE": 0, "": 1})
    assert stats.counts() == {
        metrics.SHORT_ITEMS: 7,
        "seller_center.short_items.conn_c.FACL": 4,
        "seller_center.short_items.conn_c.FACO": 2,
        "seller_center.short_items.conn_c.unknown": 1,
    }
    assert {t["business_unit"] for _, t in stats.tagged(metrics.SHORT_ITEMS)} == {
        "FACL",
        "FACO",
        "unknown",
    }


def test_brake_trip(stats) -> None:
    metrics.record_brake_trip("conn_d", "max_cancellations")
    assert stats.counts() == {
        metrics.BRAKE_TRIPS: 1,
        "seller_center.brake_trips.conn_d.max_cancellations": 1,
    }


# ------------------------------------------------------------- never fails a task


class BrokenStats:
    def incr(self, *args: Any, **kwargs: Any) -> None:
        raise OSError("no route to StatsD")

    timing = incr


def test_a_metric_that_cannot_be_sent_never_raises(monkeypatch, caplog) -> None:
    monkeypatch.setattr(metrics, "Stats", BrokenStats())
    monkeypatch.setattr(metrics, "_warned", False)
    with caplog.at_level(logging.DEBUG, logger="airflow_seller_provider.metrics"):
        metrics.record_api_attempt("c", record())
        metrics.record_item_outcomes("c", {"canceled": 1})
        metrics.record_short_items("c", {"FACL": 1})
        metrics.record_brake_trip("c", "max_cancellations")
        metrics.record_short_items("c", None)  # type: ignore[arg-type]  # a caller's bug too
    said = [r.getMessage() for r in caplog.records if "metric not sent" in r.getMessage()]
    # Each name is tried (tagged and legacy), each failure is said; a caller's bug too.
    for name in (
        "seller_center.api.calls.c.GetOrders.ok",
        metrics.API_DURATION,
        "seller_center.cancel.items.c.canceled",
        "seller_center.short_items.c.FACL",
        "seller_center.brake_trips.c.max_cancellations",
        "record_short_items",
    ):
        assert any(f"({name})" in m for m in said), name
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once at WARNING, then at DEBUG


class LegacyRefusingStats(FakeStats):
    """A backend that refuses long names (as Airflow 2.11's OpenTelemetry does past 63)."""

    def incr(self, stat: str, count: int = 1, rate: float = 1, *, tags=None) -> None:
        if tags is None:
            raise ValueError(f"Invalid stat name: {stat}")
        super().incr(stat, count, rate, tags=tags)

    def timing(self, stat: str, dt: Any, *, tags=None) -> None:
        if tags is None:
            raise ValueError(f"Invalid stat name: {stat}")
        super().timing(stat, dt, tags=tags)


def test_a_refused_name_does_not_stop_the_others(monkeypatch) -> None:
    fake = LegacyRefusingStats()
    monkeypatch.setattr(metrics, "Stats", fake)
    metrics.record_api_attempt("c", record(retry=True, throttled=True, final=True))
    assert [stat for _, stat, _, _ in fake.sent] == [
        metrics.API_THROTTLES,
        metrics.API_RETRIES,
        metrics.API_CALLS,
        metrics.API_DURATION,
    ]


def test_an_unreadable_option_keeps_airflows_default(stats, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__METRICS__LEGACY_NAMES_ON", "perhaps")
    metrics.record_brake_trip("c", "max_cancellations")
    assert [stat for _, stat, _, _ in stats.sent] == [
        metrics.BRAKE_TRIPS,
        "seller_center.brake_trips.c.max_cancellations",
    ]


@pytest.mark.parametrize(
    ("statsd_on", "otel_on", "legacy"),
    [("False", "True", False), ("True", "True", True), ("False", "False", True)],
)
def test_airflow_2_sends_no_legacy_names_to_opentelemetry(
    stats, monkeypatch, statsd_on, otel_on, legacy
) -> None:
    monkeypatch.setattr(metrics, "AIRFLOW_V_3_0_PLUS", False)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", statsd_on)
    monkeypatch.setenv("AIRFLOW__METRICS__OTEL_ON", otel_on)
    metrics.record_brake_trip("c", "max_cancellations")
    names = [stat for _, stat, _, _ in stats.sent]
    assert (
        names
        == [metrics.BRAKE_TRIPS, "seller_center.brake_trips.c.max_cancellations"][
            : 2 if legacy else 1
        ]
    )


# ---------------------------------------------------------- hook and operator


@pytest.fixture
def sandbox(monkeypatch):
    with run_sandbox(seed=8, orders=80) as sb:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}",
            sb.airflow_conn_json({"max_retries": 4, "timeout": 5}),
        )
        yield sb


def test_the_hooks_client_reports_every_call_with_its_conn_id(stats, sandbox) -> None:
    client = SellerCenterHook(CONN_ID).get_conn()
    assert client.transport.observer is not None
    client.get_failure_reasons()
    client.get_failure_reasons()
    assert stats.counts()[f"seller_center.api.calls.{CONN_ID}.GetFailureReasons.ok"] == 2
    timers = stats.tagged(metrics.API_DURATION)
    assert len(timers) == 2
    assert all(t == {"conn_id": CONN_ID, "action": "GetFailureReasons"} for _, t in timers)
    sent = repr(stats.sent)
    assert sandbox.api_key not in sent and "Signature" not in sent


def test_the_hooks_metrics_match_the_sandboxs_requests_under_faults(stats, sandbox) -> None:
    sandbox.set_faults(fault_rate=0.5, fault_kinds=("E429", "E006", "HTTP_503", "drop"))
    client = SellerCenterHook(CONN_ID).get_conn()
    client.transport.settings = dataclasses.replace(
        client.transport.settings, backoff_base=0.001, backoff_max=0.001, max_retries=30
    )
    client.transport.sleep = lambda seconds: None  # Retry-After: no real wait
    client.max_retries = 30
    for _ in range(12):
        client.get_failure_reasons()
    verdicts = Counter(r["verdict"] for r in sandbox.requests_log())
    counts = stats.counts()
    prefix = f"seller_center.api.retries.{CONN_ID}.GetFailureReasons"
    assert verdicts["ok"] == counts[f"seller_center.api.calls.{CONN_ID}.GetFailureReasons.ok"] == 12
    assert counts[f"{prefix}.E006"] == verdicts["E006"]
    assert counts[f"{prefix}.E429"] == verdicts["E429"]
    assert counts[f"{prefix}.HTTP_503"] == verdicts["HTTP_503"]
    assert counts[f"{prefix}.transport_error"] == verdicts["drop"]
    assert counts[metrics.API_RETRIES] == sum(verdicts.values()) - 12
    assert counts[metrics.API_THROTTLES] == verdicts["E429"]


def _items(sandbox, status: str, count: int) -> list[dict[str, int]]:
    state = sandbox.state()
    (user,) = [u for u in state["users"] if u["user_id"] == sandbox.user_id]
    found = [
        {"order_item_id": i["order_item_id"], "order_id": o["order_id"]}
        for o in state["orders"]
        if o["seller_id"] == user["seller_id"]
        for i in o["items"]
        if i["status"] == status and i["shipping_type"] != "Fulfillment"
    ]
    assert len(found) >= count
    return found[:count]


def test_the_operator_counts_items_by_outcome(stats, sandbox) -> None:
    pending = _items(sandbox, "pending", 3)
    shipped = _items(sandbox, "delivered", 1)
    op = CancelOrderItemOperator(
        task_id="cancel", order_item_id=pending + shipped, seller_center_conn_id=CONN_ID
    )
    result = op.execute({"ti": FakeTI()})
    assert result["counts"]["canceled"] == 3 and result["counts"]["no_longer_pending"] == 1
    counts = stats.counts()
    assert counts[f"seller_center.cancel.items.{CONN_ID}.canceled"] == 3
    assert counts[f"seller_center.cancel.items.{CONN_ID}.no_longer_pending"] == 1
    assert counts[metrics.CANCEL_ITEMS] == 4
    assert counts[f"seller_center.api.calls.{CONN_ID}.SetStatusToCanceled.ok"] == 3

    # Again: nothing is sent twice, and the items are counted as already canceled.
    stats.sent.clear()
    op.execute({"ti": FakeTI()})
    assert stats.counts()[f"seller_center.cancel.items.{CONN_ID}.already_canceled"] == 3
    assert f"seller_center.api.calls.{CONN_ID}.SetStatusToCanceled.ok" not in stats.counts()


def test_failed_items_are_counted_before_the_task_fails(stats, sandbox, monkeypatch) -> None:
    sandbox.add_user("viewer@example.com", "viewer-key", role="read_only")
    conn = json.loads(sandbox.airflow_conn_json({"max_retries": 2}))
    conn.update(login="viewer@example.com", password="viewer-key")
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    targets = _items(sandbox, "pending", 2)
    op = CancelOrderItemOperator(
        task_id="cancel", order_item_id=targets, seller_center_conn_id=CONN_ID
    )
    with pytest.raises(AirflowFailException):
        op.execute({"ti": FakeTI()})
    counts = stats.counts()
    assert counts[f"seller_center.cancel.items.{CONN_ID}.failed"] == 2
    assert counts[f"seller_center.api.calls.{CONN_ID}.SetStatusToCanceled.E009"] == 2


def test_a_broken_metrics_backend_never_fails_the_operator(monkeypatch, sandbox) -> None:
    monkeypatch.setattr(metrics, "Stats", BrokenStats())
    op = CancelOrderItemOperator(
        task_id="cancel", order_item_id=_items(sandbox, "pending", 1), seller_center_conn_id=CONN_ID
    )
    assert op.execute({"ti": FakeTI()})["counts"]["canceled"] == 1


# ------------------------------------------------------------------- the README


def test_the_readme_table_lists_every_metric() -> None:
    section = METRICS_DOC.read_text()
    rows = [line for line in section.splitlines() if line.startswith("| `seller_center.")]
    documented = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        documented[cells[0].strip("`")] = cells
    assert set(documented) == set(metrics.METRICS)
    for name, metric in metrics.METRICS.items():
        cells = documented[name]
        assert cells[1] == metric.kind, name
        assert cells[2] == ", ".join(f"`{tag}`" for tag in metric.tags), name
        assert cells[3] == f"`{metric.legacy_pattern.replace('{', '<').replace('}', '>')}`", name
