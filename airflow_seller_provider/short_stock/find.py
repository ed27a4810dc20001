"""The example DAG's find step: scan (``order_scan``), stock, rule, and what it hands on.

``find_short`` runs the pipelined scan, takes Seller Center's figures from it or reads
another source once, and applies ``shortage.decide_shortages``; ``found_payload`` is the
XCom it writes. The plan step's rules (brake, batches, approval) are ``cancel_plan``'s.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.short_stock.payloads import DecidedItem, FoundPayload, SkuShortage
from airflow_seller_provider.short_stock.rule import (
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
from airflow_seller_provider.short_stock.scan import PendingOrderScan, competing_sku

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
    "'package.module:callable' (see docs/stock.md, 'Where stock comes from')."
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
    from airflow_seller_provider.short_stock.stock_sources import read_stock_source

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
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    now: datetime | None = None,
) -> ScanResult:
    """Scan (pipelined, at most ``max_concurrency`` calls at once), read the stock of the
    SKUs in play (Seller Center's while scanning; another source once, after), and apply
    the shortage rule."""
    from airflow_seller_provider.short_stock.stock_sources import classify_stock_source

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


TOP_SKUS = 20
"""How many (business unit, SKU) pairs the find step's payload details."""


def top_skus(
    decision: ShortageDecision, stock: StockFigures, limit: int = TOP_SKUS
) -> list[SkuShortage]:
    """The (unit, SKU) pairs with the most short items, with their pending items and the
    source's figure: what a person deciding whether to approve the run needs to see."""
    short = Counter((i.business_unit or "", i.sku) for i in decision.short)
    served = Counter((i.business_unit or "", i.sku) for i in (*decision.short, *decision.covered))
    ranked = sorted(short.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [
        {
            "business_unit": unit,
            "sku": sku,
            "pending": served[(unit, sku)],
            "stock": stock.lookup(unit, sku),
            "short": count,
        }
        for (unit, sku), count in ranked
    ]


def decided_items(decision: ShortageDecision, stock: StockFigures) -> list[DecidedItem]:
    """Each short item with what decided it (for the ledger): its SKU, unit, package, the
    source's figure, and how many pending items were ahead of it in its (unit, SKU) queue."""
    queues: dict[tuple[str, str], list[ScannedItem]] = {}
    for item in (*decision.short, *decision.covered, *decision.unknown_shipping):
        if item.business_unit is not None:
            queues.setdefault((item.business_unit, item.sku), []).append(item)
    ahead: dict[int, int] = {}
    for queue in queues.values():
        for position, item in enumerate(sorted(queue, key=ScannedItem.sort_key)):
            ahead[item.order_item_id] = position
    return [
        {
            "order_item_id": i.order_item_id,
            "order_id": i.order_id,
            "sku": i.sku,
            "business_unit": i.business_unit or "",
            "package_id": i.package_id,
            "figure": stock.lookup(i.business_unit or "", i.sku),
            "ahead": ahead.get(i.order_item_id, 0),
        }
        for i in decision.short
    ]


def found_payload(
    result: ScanResult, cancel_scope: str, seller_center_conn_id: str = ""
) -> FoundPayload:
    """The find step's XCom: counts and the short items' ids, small and JSON-serialisable."""
    decision = result.decision
    return {
        "seller_center_conn_id": seller_center_conn_id,
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
        "top_skus": top_skus(decision, result.stock),
    }
