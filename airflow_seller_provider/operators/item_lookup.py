"""Looking order items up for the cancel operator: before, on an E028, and after."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from airflow_seller_provider.operators.targets import Target

if TYPE_CHECKING:
    from airflow_seller_provider.client import SellerCenterClient
    from airflow_seller_provider.client.models import OrderItem


class ItemLocator:
    """Looks order items up: the API has no "get item by id", only by order.

    With the order id, one GetOrderItems call (or one GetMultipleOrderItems call per 100
    orders when prefetched). Without it, one bounded scan of the orders created in the last
    ``lookup_days`` days, done at most once per task.
    """

    def __init__(self, client: SellerCenterClient, lookup_days: int) -> None:
        self._client = client
        self._lookup_days = lookup_days
        self._items: dict[int, OrderItem] = {}
        self._lock = threading.Lock()
        self._scan_done: threading.Event | None = None

    def prefetch(self, targets: Sequence[Target]) -> None:
        order_ids = sorted({t.order_id for t in targets if t.order_id is not None})
        if order_ids:
            found = self._client.get_multiple_order_items(order_ids)
            with self._lock:
                for items in found.values():
                    self._items.update((i.order_item_id, i) for i in items)

    def cached(self, order_item_id: int) -> OrderItem | None:
        with self._lock:
            return self._items.get(order_item_id)

    def snapshot(self) -> dict[int, OrderItem]:
        with self._lock:
            return dict(self._items)

    def reread(self, order_ids: Sequence[int]) -> dict[int, OrderItem]:
        """The orders' items as they are now (one GetMultipleOrderItems call per 100)."""
        found = self._client.get_multiple_order_items(sorted(set(order_ids)))
        fresh = {i.order_item_id: i for items in found.values() for i in items}
        with self._lock:
            self._items.update(fresh)
        return fresh

    def find(self, target: Target, *, fresh: bool = True) -> OrderItem | None:
        if not fresh:
            with self._lock:
                known = self._items.get(target.order_item_id)
            if known is not None:
                return known
        if target.order_id is not None:
            items = self._client.get_order_items(target.order_id)
            with self._lock:
                self._items.update((i.order_item_id, i) for i in items)
            return next((i for i in items if i.order_item_id == target.order_item_id), None)
        self._scan_once()
        with self._lock:
            return self._items.get(target.order_item_id)

    def _scan_once(self) -> None:
        """The first caller scans, with no lock held across the calls; the others wait for
        its end (a failed scan lets the next caller try again)."""
        with self._lock:
            done = self._scan_done
            first = done is None
            if first:
                done = self._scan_done = threading.Event()
        assert done is not None
        if not first:
            done.wait()
            return
        try:
            since = datetime.now(UTC) - timedelta(days=self._lookup_days)
            order_ids = [order.order_id for order in self._client.iter_orders(created_after=since)]
            # The client batches them, GetMultipleOrderItems' cap a call.
            found = self._client.get_multiple_order_items(order_ids) if order_ids else {}
            with self._lock:
                for items in found.values():
                    self._items.update((i.order_item_id, i) for i in items)
        except BaseException:
            with self._lock:
                self._scan_done = None
            raise
        finally:
            done.set()
