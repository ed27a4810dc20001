"""Which pending order items the seller's stock cannot cover. Pure logic, no I/O.

Read ``seller-center-api.md``, "Stock, reservations and business units": this is the one
decision that cancels customers' orders.

- **Demand**: the pending items the seller ships, per (business unit, SKU), oldest first
  (order CreatedAt, then OrderId, then OrderItemId). Each order's business unit is its own
  OperatorCode.
- **Supply** comes from a stock source whose figure counts either
  ``on_hand`` (units in the warehouse, *including* those the pending orders wait for: pending
  items take them oldest first, the rest are short) or ``sellable`` (what is left after the
  pending orders' reservations, as Seller Center's own Stock: on hand is then sellable plus
  the reserved units, so only a figure below zero is a shortage, of the newest items).
- **Never canceled, counted**: SKUs the source does not know, items whose shipping type is
  not recognised (they still take their place in the queue, so they can only make the rule
  cancel less), orders without a business unit.
- **Package scope**: packages (PackageId) are served whole, oldest first; a package short of
  any unit is short entirely and leaves its units to later packages.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from airflow_seller_provider.client.protocol import (
    Shipper,
    business_unit_of,
    combined_shipper,
    seller_may_cancel,
)

PENDING = "pending"
ON_HAND = "on_hand"
SELLABLE = "sellable"
STOCK_COUNTS = (ON_HAND, SELLABLE)
ITEM = "item"
PACKAGE = "package"
CANCEL_SCOPES = (ITEM, PACKAGE)
_NO_DATE = datetime.max

StockKey = tuple[str | None, str]
"""(business unit such as ``FACL``, or None for a figure that applies to every unit; SKU)."""


@dataclass(frozen=True, slots=True)
class ScannedItem:
    """One item of a pending order as the rule sees it (one unit of one SKU), whatever its
    own status: only pending ones the seller ships compete for stock."""

    order_item_id: int
    order_id: int
    sku: str
    order_created_at: datetime | None
    status: str = PENDING
    shipping_type: str = ""
    business_unit: str | None = None
    """Upper-case unit of the item's order (``FACL``); None when the order names none."""
    package_id: str = ""
    order_shipping_type: str = ""

    @property
    def is_pending(self) -> bool:
        return self.status.strip().lower() == PENDING

    @property
    def shipped_by(self) -> Shipper:
        return combined_shipper(self.shipping_type, self.order_shipping_type)

    @property
    def competes_for_stock(self) -> bool:
        """The API would let the seller cancel it, and the rule knows enough to: a known
        shipper (the seller) and a business unit."""
        return (
            seller_may_cancel(self.status, self.shipped_by)
            and self.shipped_by == "seller"
            and self.business_unit is not None
        )

    @property
    def package_key(self) -> tuple[int, str]:
        # An item without a PackageId is a package of its own.
        return (self.order_id, self.package_id or f"item:{self.order_item_id}")

    def sort_key(self) -> tuple[datetime, int, int]:
        created = self.order_created_at
        if created is None:
            created = _NO_DATE
        elif created.tzinfo is not None:
            created = created.astimezone(UTC).replace(tzinfo=None)
        return (created, self.order_id, self.order_item_id)


# The former name (the scan keeps every item of the pending orders, pending or not).
def normalise_unit(value: str | None) -> str | None:
    """An operator code or unit name (``facl``, ``FACL``) -> ``FACL``; anything else None."""
    return business_unit_of(value or "")


@dataclass(frozen=True, slots=True)
class StockFigures:
    """A stock source's answer: units per (business unit or None, SKU), and what they count."""

    units: Mapping[StockKey, int]
    counts: str
    source: str = "stock source"

    def __post_init__(self) -> None:
        if self.counts not in STOCK_COUNTS:
            raise ValueError(f"counts {self.counts!r} must be one of {', '.join(STOCK_COUNTS)}")

    def lookup(self, business_unit: str, sku: str) -> int | None:
        """The unit's own figure, else the figure for every unit, else None (unknown)."""
        value = self.units.get((business_unit, sku))
        return self.units.get((None, sku)) if value is None else value

    @property
    def any_negative(self) -> bool:
        return any(v < 0 for v in self.units.values())


@dataclass(slots=True)
class ShortageDecision:
    short: list[ScannedItem] = field(default_factory=list)
    """To cancel, oldest first."""
    covered: list[ScannedItem] = field(default_factory=list)
    unknown_stock: list[ScannedItem] = field(default_factory=list)
    """Competing items whose SKU the source does not know for their unit: never canceled."""
    unknown_shipping: list[ScannedItem] = field(default_factory=list)
    """Pending items whose shipping type is unrecognised or contradicts its order's, and
    (package scope) every item sharing a package with one: never canceled."""
    no_business_unit: list[ScannedItem] = field(default_factory=list)
    """Pending items the seller ships whose order has no (known) OperatorCode."""
    ignored: list[ScannedItem] = field(default_factory=list)
    """Items that do not compete: not pending, or shipped by the marketplace."""

    queued: dict[tuple[str, str], int] = field(default_factory=dict)
    """Pending items holding a unit per (business unit, SKU): the seller's and the
    unrecognised (Seller Center reserves a unit for each)."""
    on_hand: dict[tuple[str, str], int] = field(default_factory=dict)
    """Units on hand per (business unit, SKU) the source knows (a sellable figure plus the
    queued items)."""

    @property
    def considered(self) -> int:
        return len(self.short) + len(self.covered) + len(self.unknown_stock)

    def short_by_unit(self) -> dict[str, int]:
        return dict(sorted(Counter(i.business_unit or "" for i in self.short).items()))


@dataclass(slots=True)
class _Queues:
    """The items competing for stock, one queue per (business unit, SKU), and what each
    queue can take: ``on_hand`` units, or nothing decidable (in ``unknown``)."""

    queued: dict[tuple[str, str], list[ScannedItem]] = field(
        default_factory=lambda: defaultdict(list)
    )
    unknown: set[tuple[str, str]] = field(default_factory=set)
    on_hand: dict[tuple[str, str], int] = field(default_factory=dict)


def decide_shortages(
    items: Iterable[ScannedItem],
    stock: StockFigures,
    *,
    cancel_scope: str = ITEM,
) -> ShortageDecision:
    """Split ``items`` into short (to cancel), covered, and the never-canceled kinds."""
    if cancel_scope not in CANCEL_SCOPES:
        raise ValueError(f"cancel_scope {cancel_scope!r} must be one of {', '.join(CANCEL_SCOPES)}")
    decision = ShortageDecision()
    # Items that take a place in a (unit, SKU) queue: the seller's, and the unrecognised
    # (which are never canceled but may hold a unit).
    queues = _Queues()
    seen: set[int] = set()
    for item in items:
        if item.order_item_id in seen:
            continue
        seen.add(item.order_item_id)
        shipper = item.shipped_by
        if not item.is_pending or shipper == "marketplace":
            decision.ignored.append(item)
        elif item.business_unit is None:
            decision.no_business_unit.append(item)
        else:
            queues.queued[(item.business_unit, item.sku)].append(item)

    for key, queue in queues.queued.items():
        figure = stock.lookup(*key)
        if figure is None:
            queues.unknown.add(key)
        elif stock.counts == SELLABLE:
            queues.on_hand[key] = max(figure + len(queue), 0)
        else:
            queues.on_hand[key] = max(figure, 0)

    decision.queued = {key: len(queue) for key, queue in queues.queued.items()}
    decision.on_hand = dict(queues.on_hand)
    serve = _serve_packages if cancel_scope == PACKAGE else _serve_items
    serve(queues, decision)
    decision.short.sort(key=ScannedItem.sort_key)
    return decision


def _serve_items(queues: _Queues, decision: ShortageDecision) -> None:
    for key in sorted(queues.queued):
        queue = sorted(queues.queued[key], key=ScannedItem.sort_key)
        if key in queues.unknown:
            for item in queue:
                _hold(item, decision.unknown_stock, decision)
            continue
        left = queues.on_hand[key]
        for position, item in enumerate(queue):
            if item.shipped_by != "seller":
                decision.unknown_shipping.append(item)
            elif position < left:
                decision.covered.append(item)
            else:
                decision.short.append(item)


def _serve_packages(queues: _Queues, decision: ShortageDecision) -> None:
    packages: dict[tuple[int, str], list[ScannedItem]] = defaultdict(list)
    for queue in queues.queued.values():
        for item in queue:
            packages[item.package_key].append(item)
    left = dict(queues.on_hand)
    ordered = sorted(packages.values(), key=lambda p: min(i.sort_key() for i in p))
    for package in ordered:
        need = Counter((i.business_unit or "", i.sku) for i in package)
        if any(key in queues.unknown for key in need):
            # Part of it cannot be judged, and canceling any item may take the whole package.
            for item in package:
                _hold(item, decision.unknown_stock, decision)
            continue
        fits = all(left[key] >= count for key, count in need.items())
        if fits:
            for key, count in need.items():
                left[key] -= count
        uncertain = any(i.shipped_by != "seller" for i in package)
        for item in sorted(package, key=ScannedItem.sort_key):
            if uncertain:
                decision.unknown_shipping.append(item)
            elif fits:
                decision.covered.append(item)
            else:
                decision.short.append(item)


def _hold(item: ScannedItem, bucket: list[ScannedItem], decision: ShortageDecision) -> None:
    """An item that is not decided: an unrecognised shipper is reported as such first."""
    if item.shipped_by != "seller":
        decision.unknown_shipping.append(item)
    else:
        bucket.append(item)
