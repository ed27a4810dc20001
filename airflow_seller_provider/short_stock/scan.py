"""The find step's scan, pipelined: pending orders -> their items -> Seller Center stock.

Every call shares the client's one rate budget, and at most ``max_concurrency`` calls are in
flight. Each call is queued as soon as what it needs is known, and a free slot takes a
queued page first (it names orders), then a stock batch (few, and the end of a chain: left
for last, they would add a round trip to the scan), then an item batch:

- GetOrders pages: the first page gives TotalCount, then the other pages follow, at most
  ``pages_in_flight`` at a time (a quarter of ``max_concurrency``, at least 2): pages are
  the biggest answers, and the item batches, not the pages, are most of the calls, so this
  bounds memory while leaving most slots to item batches; with more slots, more pages can
  name orders early, which a second-long rate budget rewards (calls started early free
  their share of the budget early). A
  short page is not the end while TotalCount says more orders follow (the server caps Limit
  below ours): the rest of that page is asked for at the offset where it stopped.
- GetMultipleOrderItems: order ids are batched as pages arrive, ``order_batch_size`` a call
  (a batch is sent when full, the last one at the end), so the calls are the minimum.
- GetProducts (when the stock comes from Seller Center): SKUs that compete for stock are
  batched as items arrive, ``sku_batch_size`` a call.

Orders are read oldest first, in a window pinned at the scan's start (``CreatedBefore``), so
new orders cannot shift the pages. An order that leaves ``pending`` during the scan shifts
the later pages by one, and an order at a page boundary could be missed: every page's
TotalCount is compared with the first one, and when the set changed the pages are read again
(at most ``max_passes`` passes; items are fetched once per order). A missed pending item
would make Seller Center's sellable figures cancel a good order, so this is not optional.

Memory grows with the items kept (ids, SKU, dates), not with the answers: each answer is
dropped once read.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_seller_provider.client.errors import PagingLimitError
from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.short_stock.rule import ScannedItem, StockKey, normalise_unit

if TYPE_CHECKING:
    from airflow_seller_provider.client.api import SellerCenterClient
    from airflow_seller_provider.client.models import OrderItem, OrdersPage

log = logging.getLogger(__name__)

SkuReader = Callable[[list[str]], Mapping[StockKey, int]]

# The order in which free slots take queued calls (see the module docstring).
_PRIORITY = ("GetOrders", "GetProducts", "GetMultipleOrderItems")


@dataclass(frozen=True, slots=True)
class _OrderFacts:
    created_at: datetime | None
    operator_code: str
    shipping_type: str


@dataclass(slots=True)
class ScanOutcome:
    items: list[ScannedItem] = field(default_factory=list)
    orders_seen: int = 0
    stock: dict[StockKey, int] = field(default_factory=dict)
    """Figures read while scanning (Seller Center's); empty when no reader was given."""
    passes: int = 0
    calls: dict[str, int] = field(default_factory=dict)


def competing_sku(item: ScannedItem) -> bool:
    """Whether the item's SKU needs a stock figure: pending, in a known unit, and not
    shipped by the marketplace."""
    return item.is_pending and item.business_unit is not None and item.shipped_by != "marketplace"


class PendingOrderScan:
    """One scan; ``run()`` once. See the module docstring."""

    def __init__(
        self,
        client: SellerCenterClient,
        *,
        since: datetime,
        until: datetime,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        read_skus: SkuReader | None = None,
        max_passes: int = 3,
        max_pages: int = 10_000,
        pages_in_flight: int | None = None,
    ) -> None:
        if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool):
            raise TypeError(f"max_concurrency {max_concurrency!r} must be an integer >= 1")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency {max_concurrency!r} must be >= 1")
        self.client = client
        self.filters: dict[str, Any] = {
            "status": "pending",
            "created_after": since,
            "created_before": until,
            "sort_by": "created_at",
            "sort_direction": "ASC",
        }
        self.max_concurrency = max_concurrency
        self.read_skus = read_skus
        self.max_passes = max_passes
        self.max_pages = max_pages
        if pages_in_flight is None:
            pages_in_flight = max(2, max_concurrency // 4)
        self.pages_in_flight = max(1, min(pages_in_flight, max_concurrency))
        self._queued_pages: deque[tuple[int, int | None]] = deque()
        self._pages_running = 0
        self.outcome = ScanOutcome()
        self._facts: dict[int, _OrderFacts] = {}
        self._ids_waiting: list[int] = []
        self._skus_seen: set[str] = set()
        self._skus_waiting: list[str] = []
        self._running: set[Future[tuple[str, Any, Any]]] = set()
        self._queue_lock = threading.Lock()
        self._queued: dict[str, deque[tuple[Any, Callable[..., Any], tuple[Any, ...], Any]]] = {
            kind: deque() for kind in _PRIORITY
        }
        self._pool: ThreadPoolExecutor | None = None

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> ScanOutcome:
        self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="scan")
        failed = True
        try:
            for number in range(1, self.max_passes + 1):
                self.outcome.passes = number
                if not self._pages_pass():
                    break
                if number < self.max_passes:
                    log.warning(
                        "Orders left the pending list during the scan (pass %d): reading the "
                        "pages again so that no order at a page boundary is missed",
                        number,
                    )
                else:
                    log.warning(
                        "Orders were still changing after %d passes; an order missed at a page "
                        "boundary is read by the next run",
                        number,
                    )
            self._send_orders(flush=True)
            self._drain()
            self._send_skus(flush=True)
            self._drain()
            failed = False
        finally:
            # On a failure, calls not started are dropped and the scan fails at once.
            self._pool.shutdown(wait=not failed, cancel_futures=failed)
            self._pool = None
        self.outcome.orders_seen = len(self._facts)
        return self.outcome

    def _submit(self, kind: str, meta: Any, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Queue a call of ``kind`` and give the pool one more job. A job runs whichever
        queued call comes first in ``_PRIORITY`` when a worker takes it, not necessarily
        this one: a page queued late does not wait behind item batches queued before it,
        and no thread but the worker's is needed to start it."""
        assert self._pool is not None
        self.outcome.calls[kind] = self.outcome.calls.get(kind, 0) + 1
        with self._queue_lock:
            self._queued[kind].append((meta, fn, args, kw))
        self._running.add(self._pool.submit(self._run_next))

    def _run_next(self) -> tuple[str, Any, Any]:
        with self._queue_lock:
            kind = next(k for k in _PRIORITY if self._queued[k])
            meta, fn, args, kw = self._queued[kind].popleft()
        return kind, meta, fn(*args, **kw)

    def _drain(self, until: Callable[[], bool] | None = None) -> None:
        """Handle finished calls (which may queue others) until none is left, or ``until``."""
        while self._running and not (until and until()):
            done, _ = wait(self._running, return_when=FIRST_COMPLETED)
            for future in done:
                self._running.discard(future)
                kind, meta, result = future.result()  # a failed call fails the scan
                if kind == "GetOrders":
                    self._on_page(result, meta)
                elif kind == "GetMultipleOrderItems":
                    self._on_items(result)
                else:
                    self.outcome.stock.update(result)

    # -- GetOrders ---------------------------------------------------------------------------
    def _pages_pass(self) -> bool:
        """Read every page once; True when the set of orders changed during the pass."""
        self._totals: list[int | None] = []
        self._pages = 0
        self._page(0, None)
        self._drain(until=lambda: bool(self._totals))
        first = self._first_page
        total = first.total_count
        if total is None:
            # No TotalCount: one page after the other until a short one (today's rule).
            offset, page = len(first.orders), first
            while page.orders and len(page.orders) >= page.limit:
                self._page(offset, None)
                self._drain(until=lambda: len(self._totals) >= self._pages)
                page = self._last_page
                offset += len(page.orders)
            return False
        size = len(first.orders)
        if size == 0:
            return False
        if size < min(first.limit, total):
            log.info("GetOrders answers %d orders a page (asked %d)", size, first.limit)
        self._step = size if size < min(first.limit, total) else first.limit
        self._queued_pages.extend(
            (offset, min(offset + self._step, total))
            for offset in range(self._step, total, self._step)
        )
        self._pump_pages()
        self._send_orders()
        self._drain(until=lambda: self._pages_done())
        return any(t != total for t in self._totals)

    def _pages_done(self) -> bool:
        # _pages_running counts a page from its submission until its answer is read.
        return not self._queued_pages and self._pages_running == 0

    def _pump_pages(self) -> None:
        """Keep at most ``pages_in_flight`` pages asked for: a page of 1000 orders is the
        biggest answer, and the item batches, not the pages, are most of the calls."""
        while self._queued_pages and self._pages_running < self.pages_in_flight:
            self._page(*self._queued_pages.popleft())

    def _page(self, offset: int, end: int | None) -> None:
        """Ask for the page at ``offset``; ``end``: where its share of the orders ends."""
        self._pages += 1
        if self._pages > self.max_pages:
            raise PagingLimitError(
                f"read {self.max_pages} GetOrders pages without reaching the end; narrow "
                "lookback_days",
                action="GetOrders",
            )
        self._pages_running += 1
        self._submit("GetOrders", end, self.client.orders_page, offset=offset, **self.filters)

    def _on_page(self, page: OrdersPage, end: int | None) -> None:
        self._pages_running -= 1
        if not self._totals:
            self._first_page = page
        self._last_page = page
        self._totals.append(page.total_count)
        for order in page.orders:
            if order.order_id not in self._facts:
                self._facts[order.order_id] = _OrderFacts(
                    order.created_at, order.operator_code, order.shipping_type
                )
                self._ids_waiting.append(order.order_id)
        total = page.total_count
        got = len(page.orders)
        if end is not None and total is not None and got > 0:
            # Short of its share while its own count says more follow: the server caps Limit
            # lower on this page; ask for the rest where it stopped.
            stop = min(end, total)
            if page.offset + got < stop:
                self._queued_pages.appendleft((page.offset + got, end))
        self._pump_pages()
        if len(self._totals) > 1:  # the first page's batches wait for its pass to fan out
            self._send_orders()

    # -- GetMultipleOrderItems ---------------------------------------------------------------
    def _send_orders(self, *, flush: bool = False) -> None:
        size = self.client.order_batch_size
        while len(self._ids_waiting) >= size or (flush and self._ids_waiting):
            batch, self._ids_waiting = self._ids_waiting[:size], self._ids_waiting[size:]
            self._submit("GetMultipleOrderItems", None, self.client.get_multiple_order_items, batch)

    def _on_items(self, found: dict[int, list[OrderItem]]) -> None:
        for order_id, order_items in found.items():
            fact = self._facts.get(order_id) or _OrderFacts(None, "", "")
            for i in order_items:
                item = ScannedItem(
                    order_item_id=i.order_item_id,
                    order_id=order_id,
                    sku=i.sku,
                    order_created_at=fact.created_at,
                    status=i.status,
                    shipping_type=i.shipping_type,
                    business_unit=normalise_unit(i.operator_code or fact.operator_code),
                    package_id=i.package_id,
                    order_shipping_type=i.order_shipping_type or fact.shipping_type,
                )
                self.outcome.items.append(item)
                wanted = self.read_skus is not None and competing_sku(item)
                if wanted and item.sku not in self._skus_seen:
                    self._skus_seen.add(item.sku)
                    self._skus_waiting.append(item.sku)
        self._send_skus()

    # -- stock -------------------------------------------------------------------------------
    def _send_skus(self, *, flush: bool = False) -> None:
        if self.read_skus is None:
            return
        size = self.client.sku_batch_size
        while len(self._skus_waiting) >= size or (flush and self._skus_waiting):
            batch, self._skus_waiting = self._skus_waiting[:size], self._skus_waiting[size:]
            self._submit("GetProducts", None, self.read_skus, sorted(batch))
