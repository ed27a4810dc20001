"""The example DAG's find step: pending orders -> their items -> stock -> short items.

It keeps only what the rule needs (ids, SKU, dates) so that memory grows with the number of
pending items, not with the size of the API's answers, and makes the fewest calls the API
allows: one GetOrders page per ``page_size`` orders, one GetMultipleOrderItems call per
``batch_size`` orders, one GetProducts call per ``sku_batch_size`` SKUs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_seller_provider.shortage import (
    PendingItem,
    ShortageDecision,
    StockLookup,
    find_short_items,
    read_stock,
)

if TYPE_CHECKING:
    from airflow_seller_provider.client.api import SellerCenterClient

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ScanResult:
    items: list[PendingItem] = field(default_factory=list)
    orders_seen: int = 0
    stock: dict[str, int] = field(default_factory=dict)
    decision: ShortageDecision = field(default_factory=ShortageDecision)


def _batched(values: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def scan_pending_items(
    client: SellerCenterClient,
    *,
    lookback_days: int,
    batch_size: int = 100,
    now: datetime | None = None,
) -> tuple[list[PendingItem], int]:
    """Every item of the pending orders created in the last ``lookback_days`` days."""
    since = (now or datetime.now(UTC)) - timedelta(days=lookback_days)
    created: dict[int, datetime | None] = {}
    # Oldest first, explicitly: orders created during the scan land after the last page
    # instead of shifting the pages being read.
    orders = client.iter_orders(
        status="pending", created_after=since, sort_by="created_at", sort_direction="ASC"
    )
    for order in orders:
        created[order.order_id] = order.created_at
    log.info("Pending orders since %s: %d", since.isoformat(), len(created))
    items: list[PendingItem] = []
    order_ids = sorted(created)
    for number, batch in enumerate(_batched(order_ids, batch_size), start=1):
        for order_id, order_items in client.get_multiple_order_items(batch).items():
            items.extend(
                PendingItem(
                    order_item_id=i.order_item_id,
                    order_id=order_id,
                    sku=i.sku,
                    order_created_at=created.get(order_id),
                    status=i.status,
                    shipping_type=i.shipping_type,
                )
                for i in order_items
            )
        if number % 10 == 0:
            log.info("Item batches read: %d, items seen: %d", number, len(items))
    log.info("Items of pending orders: %d", len(items))
    return items, len(created)


def load_stock_source(path: str) -> StockLookup:
    """Import a seller's own stock source from ``"package.module:name"``.

    ``name`` may be a callable ``skus -> {sku: units}``, an object with ``get_stock``, or a
    class/factory with no arguments returning one of those.
    """
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"stock_source {path!r} must look like 'package.module:callable'")
    try:
        target: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"stock_source {path!r} cannot be imported: {exc}") from None
    if isinstance(target, type):
        target = target()
    if not (callable(target) or hasattr(target, "get_stock")):
        raise ValueError(f"stock_source {path!r} is neither callable nor has get_stock()")
    return target


def find_short(
    client: SellerCenterClient,
    *,
    lookback_days: int,
    batch_size: int = 100,
    stock_source: StockLookup | None = None,
    missing_stock: str = "skip",
    now: datetime | None = None,
) -> ScanResult:
    """Scan, read the stock of the SKUs in play, and apply the shortage rule."""
    items, orders_seen = scan_pending_items(
        client, lookback_days=lookback_days, batch_size=batch_size, now=now
    )
    skus = {i.sku for i in items if i.competes_for_stock}
    stock = read_stock(stock_source or client, skus)
    decision = find_short_items(items, stock, missing_stock=missing_stock)  # type: ignore[arg-type]
    return ScanResult(items=items, orders_seen=orders_seen, stock=stock, decision=decision)


def check_brake(
    short: int,
    pending: int,
    *,
    max_cancellations: int,
    max_cancel_fraction: float,
    fraction_min_items: int = 0,
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
