"""What the example DAG tells other DAGs: one Asset event per connection with canceled items.

The event goes to one asset, ``CANCELLATIONS`` (``seller-center://cancellations``), through
an alias (``CANCELLATIONS_ALIAS``), because the connections are known only at run time and
a task emits one plain event per outlet: through an alias it can emit one per connection,
each with its own ``extra``. A consumer DAG schedules on ``CANCELLATIONS`` and reads each
triggering event's extra (``dags/seller_center_cancellations_consumer.py``). On Airflow
2.11 the asset is a Dataset, and one event per run carries every connection's (``OUTLETS``).

The extra holds ids and counts only (JSON, never a secret), bounded by the run's plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict, cast

from airflow_seller_provider.compat import (
    AIRFLOW_V_3_0_PLUS,
    AirflowSkipException,
    Asset,
    AssetAlias,
)

CANCELLATIONS_URI = "seller-center://cancellations"
CANCELLATIONS = Asset(CANCELLATIONS_URI)
CANCELLATIONS_ALIAS = AssetAlias("seller_center_cancellations")


class CancellationEvent(TypedDict):
    """An event's ``extra``: one connection's canceled items in one run."""

    seller_center_conn_id: str
    dag_run_id: str
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


OUTLETS = [CANCELLATIONS_ALIAS] if AIRFLOW_V_3_0_PLUS else [CANCELLATIONS]
"""The publishing task's outlets. Airflow 2.11's alias events fail under ``dags test`` (the
alias row is not written) and hash their extras, so there the task emits one plain Dataset
event per run whose extra lists the connections' events: ``{"events": [...]}``."""


def emit(outlet_events: Any, events: list[CancellationEvent]) -> int:
    """Add the events to the task's outlet events (see ``OUTLETS``); returns how many.

    With none, nothing is emitted: through the alias nothing is added; on 2.11 the task
    skips itself, since a plain outlet emits on every success."""
    if not AIRFLOW_V_3_0_PLUS:
        if not events:
            raise AirflowSkipException("Nothing was canceled: no event.")
        outlet_events[CANCELLATIONS].extra = {"events": [dict(e) for e in events]}
        return len(events)
    accessor = outlet_events[CANCELLATIONS_ALIAS]
    for event in events:
        accessor.add(CANCELLATIONS, extra=dict(event))
    return len(events)


def received(context: Any) -> list[CancellationEvent]:
    """The events that triggered a consumer's run (Airflow 3: ``triggering_asset_events``;
    2.11: ``triggering_dataset_events``, keyed by URI), oldest first."""
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
        nested = extra.get("events")  # 2.11: one event per run (see OUTLETS)
        found += [cast("CancellationEvent", e) for e in (nested or [extra])]
    return found
