"""The example DAG's plan step: per connection, the safety brake and the cancel batches;
for the run, which batches wait for a person's approval.

Pure logic over the find step's payloads and the run's params (no Airflow, no network), so
every decision here is unit-tested. ``approval_report`` renders what the person reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.short_stock.approval_report import approval_subject, render_report
from airflow_seller_provider.short_stock.payloads import (
    ApprovalRequest,
    ConnectionPlan,
    FoundPayload,
    OrderItemRef,
    PlanEntry,
    RunPlan,
)
from airflow_seller_provider.short_stock.stock_correction import (
    MAX_STOCK_CORRECTIONS,
    StockCorrection,
)

FRACTION_MIN_ITEMS = 20
"""The safety brake's fraction applies from this many short items on (the DAG's default)."""

ON_BRAKE, ALWAYS, NEVER = "on_brake", "always", "never"
REQUIRE_APPROVAL = (ON_BRAKE, ALWAYS, NEVER)
"""``require_approval``: ask a person when the brake trips (default), for every run with
something to cancel, or never (a tripped brake fails the run)."""
APPROVAL_TIMEOUT_MINUTES = 120
MAX_CONNECTIONS = 200
"""Connections one run serves at most (``seller_center_conn_ids``); the find step maps
over them, so this also bounds the run's task instances."""

PLANNED, HELD, BLOCKED, FIND_FAILED = "planned", "held", "blocked", "find_failed"


class SafetyBrake(ValueError):
    """The run must stop before canceling anything; the message says why and what to do."""


class ApprovalUnavailable(ValueError):
    """``require_approval="always"`` on an Airflow without human-in-the-loop operators."""


@dataclass(frozen=True, slots=True)
class BrakeTrip:
    """One limit the short items exceed, and by how much."""

    limit: str
    text: str


def brake_trips(
    short: int,
    pending: int,
    *,
    max_cancellations: int,
    max_cancel_fraction: float,
    fraction_min_items: int = FRACTION_MIN_ITEMS,
) -> list[BrakeTrip]:
    """The limits ``short`` of ``pending`` items exceed; empty within the limits.

    The fraction applies only from ``fraction_min_items`` short items on: a small shop's
    handful of legitimate cancellations can be a large fraction of its few pending items.
    """
    trips = []
    if short > max_cancellations:
        trips.append(
            BrakeTrip(
                "max_cancellations",
                f"{short} short items exceed max_cancellations={max_cancellations} "
                f"by {short - max_cancellations}",
            )
        )
    fraction = short / pending if pending else 0.0
    if pending and short >= fraction_min_items and fraction > max_cancel_fraction:
        trips.append(
            BrakeTrip(
                "max_cancel_fraction",
                f"{short} of {pending} pending items ({fraction:.0%}) exceed "
                f"max_cancel_fraction={max_cancel_fraction} "
                f"by {fraction - max_cancel_fraction:.0%} of the pending items"
                + (
                    f" (checked from {fraction_min_items} short items)"
                    if fraction_min_items
                    else ""
                ),
            )
        )
    return trips


def brake_message(trips: Sequence[BrakeTrip]) -> str:
    return (
        "Safety brake: " + "; ".join(t.text for t in trips) + ". Nothing was canceled. Check "
        "the stock feed; if this is right, approve it (require_approval on_brake, Airflow "
        "3.1+), or ask whoever deploys the DAG to raise the limits (a run's conf may only "
        "lower them)."
    )


def check_brake(
    short: int,
    pending: int,
    *,
    max_cancellations: int,
    max_cancel_fraction: float,
    fraction_min_items: int = FRACTION_MIN_ITEMS,
) -> str | None:
    """Why the run must stop before canceling anything, or None when within the limits."""
    trips = brake_trips(
        short,
        pending,
        max_cancellations=max_cancellations,
        max_cancel_fraction=max_cancel_fraction,
        fraction_min_items=fraction_min_items,
    )
    return brake_message(trips) if trips else None


def corrections_of(found: FoundPayload) -> list[StockCorrection]:
    """The stock corrections the find step planned (``correct_stock="lower"``)."""
    plan = found.get("stock_corrections")
    return list(plan["entries"]) if plan else []


def trips_for(found: FoundPayload, params: Mapping[str, Any]) -> list[BrakeTrip]:
    trips = brake_trips(
        len(found["short"]),
        found["pending"],
        max_cancellations=int(params["max_cancellations"]),
        max_cancel_fraction=float(params["max_cancel_fraction"]),
        fraction_min_items=int(params.get("fraction_min_items", FRACTION_MIN_ITEMS)),
    )
    corrections = len(corrections_of(found))
    limit = int(params.get("max_stock_corrections", MAX_STOCK_CORRECTIONS))
    if corrections > limit:
        trips.append(
            BrakeTrip(
                "max_stock_corrections",
                f"{corrections} stock corrections exceed max_stock_corrections={limit} "
                f"by {corrections - limit}",
            )
        )
    return trips


def batches_for(found: FoundPayload, params: Mapping[str, Any]) -> list[PlanEntry]:
    """One connection's cancel tasks' arguments, batches of about ``batch_size`` items."""
    conn_id = found.get("seller_center_conn_id") or str(params["seller_center_conn_id"])
    return [
        {
            "order_item_id": batch,
            "dry_run": bool(params["dry_run"]),
            "reason_detail": params.get("reason_detail") or None,
            "seller_center_conn_id": conn_id,
            "max_concurrency": int(params.get("max_concurrency") or DEFAULT_MAX_CONCURRENCY),
        }
        for batch in batch_by_order(found["short"], int(params["batch_size"]))
    ]


def plan_batches(found: FoundPayload, params: Mapping[str, Any]) -> list[PlanEntry]:
    """One connection's batches; raises SafetyBrake past the limits (no approval asked)."""
    trips = trips_for(found, params)
    if trips:
        raise SafetyBrake(brake_message(trips))
    return batches_for(found, params)


def require_approval_mode(params: Mapping[str, Any], *, hitl_available: bool) -> str:
    """The run's ``require_approval``, checked: ``always`` needs human-in-the-loop."""
    mode = str(params.get("require_approval") or ON_BRAKE)
    if mode not in REQUIRE_APPROVAL:
        raise ValueError(
            f"require_approval={mode!r} is not one of {', '.join(REQUIRE_APPROVAL)}; "
            "set it in the DAG's short_stock_cancellation(...) or the run's conf."
        )
    if mode == ALWAYS and not hitl_available:
        raise ApprovalUnavailable(
            "require_approval='always' needs Airflow 3.1+ (human-in-the-loop operators of "
            "apache-airflow-providers-standard); this Airflow has none. Use 'on_brake' or "
            "'never' (both fail the run when the safety brake trips), or upgrade Airflow."
        )
    return mode


def run_connections(params: Mapping[str, Any], *, hitl_available: bool) -> list[str]:
    """The run's connections (``seller_center_conn_ids``, else ``[seller_center_conn_id]``),
    checked with ``require_approval`` before any request; raises ValueError naming the bad
    value."""
    require_approval_mode(params, hitl_available=hitl_available)
    listed = params.get("seller_center_conn_ids")
    ids = listed if listed else [params.get("seller_center_conn_id")]
    if not isinstance(ids, list | tuple):
        raise ValueError(
            f"seller_center_conn_ids={listed!r} must be a list of connection ids, e.g. "
            '["seller_center_cl", "seller_center_co"]'
        )
    bad = [c for c in ids if not isinstance(c, str) or not c.strip()]
    if bad:
        raise ValueError(f"connection ids must be non-empty strings; got {bad!r}")
    clean = [c.strip() for c in ids]
    duplicates = sorted({c for c in clean if clean.count(c) > 1})
    if duplicates:
        raise ValueError(
            f"seller_center_conn_ids lists {duplicates!r} more than once: each connection "
            "must be served once per run (twice would race on the same items)"
        )
    if len(clean) > MAX_CONNECTIONS:
        raise ValueError(
            f"seller_center_conn_ids lists {len(clean)} connections, more than "
            f"{MAX_CONNECTIONS}: split them over several DAGs or runs"
        )
    return clean


def plan_run(
    founds: Sequence[FoundPayload | None],
    conn_ids: Sequence[str],
    params: Mapping[str, Any],
    *,
    hitl_available: bool,
    find_task_id: str = "find_short_items",
) -> RunPlan:
    """Every connection's batches, split into those that run now and those that wait.

    ``founds`` are the find step's payloads, one per connection that finished (in any
    order; a failed find step left none). A connection whose find step failed, or whose
    brake stopped it, has no batches and a ``problem`` that fails the run at its end; the
    others go on. A dry run cancels nothing, so it never waits: its report says what a
    real run would do.
    """
    mode = require_approval_mode(params, hitl_available=hitl_available)
    dry_run = bool(params["dry_run"])
    by_conn = {f["seller_center_conn_id"]: f for f in founds if f is not None}
    auto: list[PlanEntry] = []
    held: list[PlanEntry] = []
    corrections: dict[str, list[StockCorrection]] = {}
    connections: list[ConnectionPlan] = []
    reported: list[tuple[FoundPayload, ConnectionPlan]] = []
    for index, conn_id in enumerate(conn_ids):
        found = by_conn.get(conn_id)
        if found is None:
            connections.append(
                {
                    "seller_center_conn_id": conn_id,
                    "status": FIND_FAILED,
                    "short": 0,
                    "pending": 0,
                    "brake": [],
                    "corrections": 0,
                    "problem": f"connection {conn_id!r}: the find step failed (see "
                    f"{find_task_id}, map index {index}): nothing was canceled for it",
                }
            )
            continue
        trips = trips_for(found, params)
        batches = batches_for(found, params)
        fixes = corrections_of(found)
        plan: ConnectionPlan = {
            "seller_center_conn_id": conn_id,
            "status": PLANNED,
            "short": len(found["short"]),
            "pending": found["pending"],
            "brake": [t.text for t in trips],
            "corrections": len(fixes),
            "problem": None,
        }
        if (
            (batches or fixes)
            and not dry_run
            and (mode == ALWAYS or (trips and mode == ON_BRAKE and hitl_available))
        ):
            plan["status"] = HELD
            held += batches
            if fixes:
                corrections[conn_id] = fixes  # made by its approval, decided again
        elif trips and not dry_run:
            plan["status"] = BLOCKED
            plan["problem"] = f"connection {conn_id!r}: {brake_message(trips)}"
        else:
            auto += batches
            if fixes:
                corrections[conn_id] = fixes
        connections.append(plan)
        if plan["short"] or plan["corrections"]:
            reported.append((found, plan))
    waiting = [(f, p) for f, p in reported if p["status"] == HELD]
    timeout = float(params.get("approval_timeout_minutes") or APPROVAL_TIMEOUT_MINUTES)

    def request(entries: list[tuple[FoundPayload, ConnectionPlan]]) -> ApprovalRequest:
        items = sum(p["short"] for _, p in entries if p["status"] == HELD)
        fixes = sum(p["corrections"] for _, p in entries if p["status"] == HELD)
        return {
            "required": bool(items or fixes),
            "mode": mode,
            "items": items,
            "corrections": fixes,
            "timeout_minutes": timeout,
            "subject": approval_subject(entries) if items or fixes else "",
            "report": render_report(
                entries, mode=mode, dry_run=dry_run, hitl_available=hitl_available
            ),
        }

    return {
        "auto": auto,
        "held": held,
        "corrections": corrections,
        "connections": connections,
        "approval": request(waiting or reported),
        # One request per held connection, each with its own report: no seller's decision
        # waits on another's.
        "approvals": {p["seller_center_conn_id"]: request([(f, p)]) for f, p in waiting},
    }


def batch_by_order(short: Sequence[OrderItemRef], size: int) -> list[list[OrderItemRef]]:
    """Cancel batches of about ``size`` items that never split an order, so that one task
    holds every item of a package (a cancel may take the whole package)."""
    by_order: dict[int, list[OrderItemRef]] = {}
    for entry in short:
        by_order.setdefault(entry["order_id"], []).append(entry)
    batches: list[list[OrderItemRef]] = []
    current: list[OrderItemRef] = []
    for entries in by_order.values():
        if current and len(current) + len(entries) > size:
            batches.append(current)
            current = []
        current.extend(entries)
    if current:
        batches.append(current)
    return batches


def redecide(
    approved: Sequence[OrderItemRef], now: FoundPayload
) -> tuple[list[OrderItemRef], list[int]]:
    """(the approved items still short now, in their order; the ids of those no longer
    short). ``now`` is the connection's find payload read after the approval."""
    still = {entry["order_item_id"] for entry in now["short"]}
    keep = [e for e in approved if e["order_item_id"] in still]
    gone = sorted({e["order_item_id"] for e in approved if e["order_item_id"] not in still})
    return keep, gone


def held_connections(connections: Sequence[Mapping[str, Any]]) -> list[str]:
    """The connections whose cancellations wait for a person (a RunPlan's ``connections``)."""
    return [str(p["seller_center_conn_id"]) for p in connections if p.get("status") == HELD]
