"""What the short-stock task group tells other DAGs: the items it canceled, per connection,
as an Asset event (a Dataset event on Airflow 2.11).

One event per producing run and task group on the asset ``CANCELLATIONS``
(``seller-center://cancellations``), whose extra holds one entry per connection with
canceled items: ``{"dag_run_id": ..., "group_id": ..., "events": [CancellationEvent, ...]}``.
A DAG with two groups emits two events in one run, each naming its group. One event, not one
per connection through an AssetAlias, because Airflow 3.3.2 hands an asset-triggered run
only the events up to the first one that queued it (apache/airflow#54659): the other
connections' events would reach the consumer one run late, or never if no later event comes.
Airflow 2.11's alias events also fail under ``dags test``. A consumer DAG schedules on
``CANCELLATIONS`` and reads the entries with ``received(context)``
(``dags/seller_center_cancellations_consumer.py``).

The extra holds ids and counts only (JSON, never a secret), bounded by the run's plan; with
``correct_stock="lower"`` its ``stock_corrections`` lists each Seller Center figure the run
lowered, or failed to (SKU, unit, warehouse, from, to, outcome).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NotRequired, TypedDict, cast

from airflow_seller_provider.compat import AirflowSkipException, Asset

CANCELLATIONS_URI = "seller-center://cancellations"
CANCELLATIONS = Asset(CANCELLATIONS_URI)


class CancellationEvent(TypedDict):
    """One connection's canceled items in one run (an entry of the event's ``events``)."""

    seller_center_conn_id: str
    dag_run_id: str
    group_id: NotRequired[str]
    """The task group that canceled them (``short_stock_cancellation``'s ``group_id``)."""
    canceled: list[int]
    """Items this run canceled (the API confirmed it, or the lost answer was verified)."""
    canceled_count: int
    already_canceled_count: int
    no_longer_pending_count: int
    failed_count: int


COUNTED = ("canceled", "already_canceled", "no_longer_pending", "failed")
"""Outcomes counted in an event, as ``<outcome>_count``."""


def cancellation_events(
    outcomes: Iterable[Mapping[str, Any]], *, dag_run_id: str, default_conn_id: str
) -> list[CancellationEvent]:
    """One event per connection whose cancel tasks canceled something (dry runs: none)."""
    by_conn: dict[str, CancellationEvent] = {}
    for outcome in outcomes:
        if outcome.get("dry_run"):
            continue
        conn_id = outcome.get("seller_center_conn_id") or default_conn_id
        event = by_conn.setdefault(
            conn_id,
            {
                "seller_center_conn_id": conn_id,
                "dag_run_id": dag_run_id,
                "canceled": [],
                "canceled_count": 0,
                "already_canceled_count": 0,
                "no_longer_pending_count": 0,
                "failed_count": 0,
            },
        )
        event["canceled"] += outcome.get("canceled", [])
        counts = cast("dict[str, Any]", event)
        for name in COUNTED:
            counts[f"{name}_count"] += len(outcome.get(name, []))
    events = [e for e in by_conn.values() if e["canceled"]]
    for event in events:
        event["canceled"].sort()
    return sorted(events, key=lambda e: e["seller_center_conn_id"])


OUTLETS = [CANCELLATIONS]
"""The publishing task's outlets."""


STOCK_CHANGES = ("lowered", "failed")
"""Stock corrections an event lists (``correct_stock="lower"``): what changed, or should
have and did not."""


def stock_changes(corrections: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The run's stock corrections that changed a figure or failed, each with its
    connection: SKU, unit, warehouse, from, to, outcome (and code)."""
    return [
        {"seller_center_conn_id": conn_id, **dict(c)}
        for conn_id, outcomes in sorted(corrections.items())
        for c in outcomes
        if c.get("outcome") in STOCK_CHANGES
    ]


def emit(
    outlet_events: Any,
    events: list[CancellationEvent],
    *,
    dag_run_id: str,
    group_id: str,
    corrections: list[dict[str, Any]] | None = None,
) -> int:
    """Set the run's one event for the task group ``group_id`` (see the module's
    docstring); returns how many connections it names. With nothing canceled and no stock
    changed the task skips itself: a plain outlet emits on every success, and a consumer
    should not run for nothing."""
    if not events and not corrections:
        raise AirflowSkipException("Nothing was canceled and no stock changed: no event.")
    extra: dict[str, Any] = {
        "dag_run_id": dag_run_id,
        "group_id": group_id,
        "events": [{**e, "group_id": group_id} for e in events],
    }
    if corrections:
        extra["stock_corrections"] = corrections
    outlet_events[CANCELLATIONS].extra = extra
    return len(events)


def received(context: Any) -> list[CancellationEvent]:
    """The per-connection entries of the events that triggered a consumer's run (Airflow 3:
    ``triggering_asset_events``; 2.11: ``triggering_dataset_events``, keyed by URI), oldest
    event first."""
    triggering = context.get("triggering_asset_events")
    if triggering is None:
        triggering = context.get("triggering_dataset_events") or {}
    events: Any = []
    for key in (CANCELLATIONS, CANCELLATIONS.uri, getattr(CANCELLATIONS, "name", None)):
        try:
            events = triggering[key]
        except (KeyError, TypeError):
            continue
        if events:
            break
    ordered = sorted(events, key=lambda e: (e.timestamp, getattr(e, "id", 0) or 0))
    found: list[CancellationEvent] = []
    for event in ordered:
        extra = dict(event.extra or {})
        nested = extra.get("events")
        found += [cast("CancellationEvent", e) for e in (nested or [extra])]
    return found
