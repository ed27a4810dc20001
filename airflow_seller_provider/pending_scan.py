"""The example DAG's find step: scan (``order_scan``), stock, rule, and what it hands on.

``find_short`` runs the pipelined scan, takes Seller Center's figures from it or reads
another source once, and applies ``shortage.decide_shortages``; ``found_payload`` is the
XCom it writes; ``plan_batches`` and ``check_brake`` are the plan step's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_seller_provider.order_scan import PendingOrderScan, competing_sku
from airflow_seller_provider.payloads import FoundPayload, OrderItemRef, PlanEntry
from airflow_seller_provider.shortage import (
    ITEM,
    ON_HAND,
    SELLABLE,
    STOCK_COUNTS,
    ScannedItem,
    ShortageDecision,
    StockFigures,
    StockKey,
    decide_shortages,
)

if TYPE_CHECKING:
    from airflow_seller_provider.client.api import SellerCenterClient

log = logging.getLogger(__name__)

SELLER_CENTER = "seller_center"
SELLER_CENTER_NAME = "Seller Center (GetProducts BusinessUnits Stock)"
NO_SHORTAGE_VISIBLE = (
    "The stock figures count sellable units (Seller Center's own Stock already excludes the "
    "units reserved by pending orders) and none is below zero, so they show no shortage. "
    "Units sold through another channel show only in your warehouse's count: plug it in "
    "with stock_source='sql' (+ stock_conn_id, stock_sql), a CSV/JSON file URI, or "
    "'package.module:callable' (see the README, 'Where stock comes from')."
)


@dataclass(slots=True)
class ScanResult:
    items: list[ScannedItem] = field(default_factory=list)
    orders_seen: int = 0
    stock: StockFigures = field(default_factory=lambda: StockFigures({}, SELLABLE))
    decision: ShortageDecision = field(default_factory=ShortageDecision)

    @property
    def note(self) -> str | None:
        """Why the figures cannot show a shortage, when that is the case."""
        if self.stock.counts == SELLABLE and not self.stock.any_negative:
            return NO_SHORTAGE_VISIBLE
        return None


def seller_center_stock(client: SellerCenterClient) -> Callable[[list[str]], dict[StockKey, int]]:
    """Seller Center's sellable stock per (business unit, SKU) for a list of SKUs."""

    def read(skus: list[str]) -> dict[StockKey, int]:
        return {(unit, sku): units for (unit, sku), units in client.get_stock(skus).items()}

    return read


def _counts(kind: str, stock_counts: str | None) -> str:
    counts = stock_counts or (SELLABLE if kind == SELLER_CENTER else ON_HAND)
    if counts not in STOCK_COUNTS:
        raise ValueError(f"stock_counts {counts!r} must be one of {', '.join(STOCK_COUNTS)}")
    return counts


def _read_source(
    kind: str,
    skus: Sequence[str],
    counts: str,
    *,
    stock_source: str | None,
    stock_conn_id: str | None,
    stock_sql: str | None,
) -> StockFigures:
    """A source other than Seller Center (whose figures the scan reads as it goes), once."""
    from airflow_seller_provider.stock_sources import read_stock_source

    units = read_stock_source(
        stock_source, skus=skus, stock_conn_id=stock_conn_id, stock_sql=stock_sql
    )
    name = f"sql {stock_conn_id}" if kind == "sql" else str(stock_source)
    log.info(
        "Stock of %d SKU(s) from %s: %d figure(s), counting %s", len(skus), name, len(units), counts
    )
    return StockFigures(units, counts, name)


def find_short(
    client: SellerCenterClient,
    *,
    lookback_days: int,
    stock_source: str | None = None,
    stock_conn_id: str | None = None,
    stock_sql: str | None = None,
    stock_counts: str | None = None,
    cancel_scope: str = ITEM,
    max_concurrency: int = 8,
    now: datetime | None = None,
) -> ScanResult:
    """Scan (pipelined, at most ``max_concurrency`` calls at once), read the stock of the
    SKUs in play (Seller Center's while scanning; another source once, after), and apply
    the shortage rule."""
    from airflow_seller_provider.stock_sources import classify_stock_source

    kind = classify_stock_source(stock_source, stock_conn_id=stock_conn_id, stock_sql=stock_sql)
    counts = _counts(kind, stock_counts)
    start = now or datetime.now(UTC)
    scan = PendingOrderScan(
        client,
        since=start - timedelta(days=lookback_days),
        until=start,
        max_concurrency=max_concurrency,
        read_skus=seller_center_stock(client) if kind == SELLER_CENTER else None,
    ).run()
    log.info(
        "Scan: %d pending order(s), %d item(s), calls %s, %d pass(es)",
        scan.orders_seen,
        len(scan.items),
        scan.calls,
        scan.passes,
    )
    if kind == SELLER_CENTER:
        stock = StockFigures(scan.stock, counts, SELLER_CENTER_NAME)
    else:
        stock = _read_source(
            kind,
            sorted({i.sku for i in scan.items if competing_sku(i)}),
            counts,
            stock_source=stock_source,
            stock_conn_id=stock_conn_id,
            stock_sql=stock_sql,
        )
    decision = decide_shortages(scan.items, stock, cancel_scope=cancel_scope)
    return ScanResult(
        items=scan.items, orders_seen=scan.orders_seen, stock=stock, decision=decision
    )


FRACTION_MIN_ITEMS = 20
"""The safety brake's fraction applies from this many short items on (the DAG's default)."""


class SafetyBrake(ValueError):
    """The run must stop before canceling anything; the message says why and what to do."""


def plan_batches(found: FoundPayload, params: Mapping[str, Any]) -> list[PlanEntry]:
    """The cancel tasks' arguments from the find step's result and the run's params, one
    entry per batch of about ``batch_size`` items; raises SafetyBrake past the limits."""
    short = found["short"]
    stop = check_brake(
        len(short),
        found["pending"],
        max_cancellations=int(params["max_cancellations"]),
        max_cancel_fraction=float(params["max_cancel_fraction"]),
        fraction_min_items=int(params.get("fraction_min_items", FRACTION_MIN_ITEMS)),
    )
    if stop:
        raise SafetyBrake(stop)
    return [
        {
            "order_item_id": batch,
            "dry_run": bool(params["dry_run"]),
            "reason_detail": params.get("reason_detail") or None,
            "seller_center_conn_id": str(params["seller_center_conn_id"]),
            "max_concurrency": int(params.get("max_concurrency") or 8),
        }
        for batch in batch_by_order(short, int(params["batch_size"]))
    ]


def check_brake(
    short: int,
    pending: int,
    *,
    max_cancellations: int,
    max_cancel_fraction: float,
    fraction_min_items: int = FRACTION_MIN_ITEMS,
) -> str | None:
    """Why the run must stop before canceling anything, or None when within the limits.

    The fraction applies only from ``fraction_min_items`` short items on: a small shop's
    handful of legitimate cancellations can be a large fraction of its few pending items.
    """
    fraction = short / pending if pending else 0.0
    reasons = []
    if short > max_cancellations:
        reasons.append(f"{short} short items exceed max_cancellations={max_cancellations}")
    if pending and short >= fraction_min_items and fraction > max_cancel_fraction:
        reasons.append(
            f"{short} of {pending} pending items ({fraction:.0%}) exceed "
            f"max_cancel_fraction={max_cancel_fraction}"
            + (f" (checked from {fraction_min_items} short items)" if fraction_min_items else "")
        )
    if not reasons:
        return None
    return (
        "Safety brake: " + "; ".join(reasons) + ". Nothing was canceled. Check the stock feed; "
        "if this is right, trigger the DAG again with a run conf that raises the limits."
    )


def found_payload(result: ScanResult, cancel_scope: str) -> FoundPayload:
    """The find step's XCom: counts and the short items' ids, small and JSON-serialisable."""
    decision = result.decision
    return {
        "orders_seen": result.orders_seen,
        "pending": decision.considered,
        "unknown_stock": len(decision.unknown_stock),
        "unknown_shipping": len(decision.unknown_shipping),
        "no_business_unit": len(decision.no_business_unit),
        "short_by_unit": decision.short_by_unit(),
        "stock": {
            "source": result.stock.source,
            "counts": result.stock.counts,
            "figures": len(result.stock.units),
        },
        "cancel_scope": cancel_scope,
        "note": result.note,
        "short": [
            {"order_item_id": i.order_item_id, "order_id": i.order_id} for i in decision.short
        ],
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
