"""Which pending order items the seller's stock cannot cover. Pure logic, no I/O.

The rule: only ``pending`` items that the seller ships (ShippingType not ``Fulfillment``)
compete for stock. Per SKU, stock goes to items oldest first, ordered by their order's
CreatedAt, then OrderId, then OrderItemId; an item that finds no stock left is short.

A SKU the stock source knows nothing about is not guessed at: by default its items are
reported under ``unknown_stock`` and never canceled (a missing feed entry must not cancel
orders); ``missing_stock="zero"`` treats such SKUs as out of stock instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol, runtime_checkable

PENDING = "pending"
FULFILLMENT = "fulfillment"
_NO_DATE = datetime.max


@dataclass(frozen=True, slots=True)
class PendingItem:
    """One order item as the rule sees it (one unit of one SKU)."""

    order_item_id: int
    order_id: int
    sku: str
    order_created_at: datetime | None
    status: str = PENDING
    shipping_type: str = ""

    @property
    def competes_for_stock(self) -> bool:
        return (
            self.status.strip().lower() == PENDING
            and self.shipping_type.strip().lower() != FULFILLMENT
        )

    def sort_key(self) -> tuple[datetime, int, int]:
        created = self.order_created_at
        if created is None:
            created = _NO_DATE
        elif created.tzinfo is not None:
            created = created.astimezone(UTC).replace(tzinfo=None)
        return (created, self.order_id, self.order_item_id)


@dataclass(slots=True)
class ShortageDecision:
    short: list[PendingItem] = field(default_factory=list)
    covered: list[PendingItem] = field(default_factory=list)
    unknown_stock: list[PendingItem] = field(default_factory=list)
    ignored: list[PendingItem] = field(default_factory=list)
    """Items that do not compete: not pending, or shipped by the marketplace."""

    @property
    def considered(self) -> int:
        return len(self.short) + len(self.covered) + len(self.unknown_stock)


@runtime_checkable
class StockSource(Protocol):
    """Anything with ``get_stock(skus) -> {sku: units}``; SellerCenterClient is one."""

    def get_stock(self, skus: Sequence[str]) -> Mapping[str, int]: ...


StockLookup = StockSource | Callable[[Sequence[str]], Mapping[str, int]]


def read_stock(source: StockLookup, skus: Iterable[str]) -> dict[str, int]:
    """Ask a stock source (an object with ``get_stock`` or a plain callable) for ``skus``."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    fetch = source.get_stock if isinstance(source, StockSource) else source
    answer = fetch(wanted)
    return {str(sku): int(units) for sku, units in answer.items()}


def find_short_items(
    items: Iterable[PendingItem],
    stock: Mapping[str, int],
    *,
    missing_stock: Literal["skip", "zero"] = "skip",
) -> ShortageDecision:
    """Allocate ``stock`` to competing items oldest first; the rest are short."""
    if missing_stock not in ("skip", "zero"):
        raise ValueError(f"missing_stock must be 'skip' or 'zero', not {missing_stock!r}")
    decision = ShortageDecision()
    by_sku: dict[str, list[PendingItem]] = defaultdict(list)
    seen: set[int] = set()
    for item in items:
        if item.order_item_id in seen:
            continue
        seen.add(item.order_item_id)
        if item.competes_for_stock:
            by_sku[item.sku].append(item)
        else:
            decision.ignored.append(item)
    for sku in sorted(by_sku):
        queue = sorted(by_sku[sku], key=PendingItem.sort_key)
        if sku not in stock and missing_stock == "skip":
            decision.unknown_stock.extend(queue)
            continue
        left = max(int(stock.get(sku, 0)), 0)
        decision.covered.extend(queue[:left])
        decision.short.extend(queue[left:])
    decision.short.sort(key=PendingItem.sort_key)
    return decision
