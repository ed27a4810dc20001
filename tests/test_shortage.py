from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_seller_provider.shortage import (
    PendingItem,
    find_short_items,
    read_stock,
)

T0 = datetime(2026, 11, 1, 12, 0, 0)


def item(item_id, order_id, sku, minutes=0, status="pending", shipping="Dropshipping"):
    return PendingItem(
        order_item_id=item_id,
        order_id=order_id,
        sku=sku,
        order_created_at=T0 + timedelta(minutes=minutes),
        status=status,
        shipping_type=shipping,
    )


def ids(items):
    return [i.order_item_id for i in items]


def test_oldest_orders_get_the_stock():
    items = [item(3, 30, "A", minutes=20), item(1, 10, "A", minutes=0), item(2, 20, "A", 10)]
    decision = find_short_items(items, {"A": 2})
    assert ids(decision.covered) == [1, 2]
    assert ids(decision.short) == [3]


def test_ties_on_created_at_break_by_order_id_then_item_id():
    items = [item(8, 21, "A"), item(9, 20, "A"), item(7, 20, "A"), item(6, 22, "A")]
    decision = find_short_items(items, {"A": 2})
    assert ids(decision.covered) == [7, 9]
    assert ids(decision.short) == [8, 6]


def test_order_created_at_not_item_id_decides():
    # A higher item id in an older order keeps its stock.
    items = [item(1, 50, "A", minutes=5), item(100, 60, "A", minutes=0)]
    assert ids(find_short_items(items, {"A": 1}).short) == [1]


def test_zero_and_negative_stock_make_every_item_short():
    items = [item(1, 1, "A"), item(2, 2, "B")]
    decision = find_short_items(items, {"A": 0, "B": -3})
    assert ids(decision.short) == [1, 2]
    assert decision.covered == []


def test_missing_stock_is_not_guessed_by_default():
    items = [item(1, 1, "A"), item(2, 2, "GONE")]
    decision = find_short_items(items, {"A": 5})
    assert ids(decision.unknown_stock) == [2]
    assert decision.short == []
    zero = find_short_items(items, {"A": 5}, missing_stock="zero")
    assert ids(zero.short) == [2]
    with pytest.raises(ValueError, match="missing_stock"):
        find_short_items(items, {}, missing_stock="maybe")


def test_fulfillment_and_other_statuses_do_not_compete():
    items = [
        item(1, 1, "A", minutes=0, shipping="Fulfillment"),
        item(2, 2, "A", minutes=1, status="ready_to_ship"),
        item(3, 3, "A", minutes=2, status="canceled"),
        item(4, 4, "A", minutes=3),
        item(5, 5, "A", minutes=4),
    ]
    decision = find_short_items(items, {"A": 1})
    assert ids(decision.ignored) == [1, 2, 3]
    assert ids(decision.covered) == [4]
    assert ids(decision.short) == [5]
    assert decision.considered == 2


def test_status_and_shipping_type_compare_case_insensitively():
    items = [item(1, 1, "A", status="Pending", shipping="FULFILLMENT"), item(2, 2, "A")]
    decision = find_short_items(items, {"A": 0})
    assert ids(decision.ignored) == [1]
    assert ids(decision.short) == [2]


def test_skus_with_no_pending_demand_are_untouched():
    decision = find_short_items([item(1, 1, "A")], {"A": 1, "B": 0, "C": 10})
    assert decision.short == [] and ids(decision.covered) == [1]


def test_duplicates_count_once_and_skus_are_independent():
    items = [item(1, 1, "A"), item(1, 1, "A"), item(2, 2, "B"), item(3, 3, "B", minutes=1)]
    decision = find_short_items(items, {"A": 1, "B": 1})
    assert ids(decision.covered) == [1, 2]
    assert ids(decision.short) == [3]


def test_aware_and_missing_dates_sort_sensibly():
    aware = PendingItem(1, 1, "A", datetime(2026, 11, 1, 11, 0, tzinfo=UTC))
    undated = PendingItem(2, 2, "A", None)
    later = PendingItem(3, 3, "A", datetime(2026, 11, 1, 13, 0, tzinfo=UTC))
    decision = find_short_items([undated, later, aware], {"A": 2})
    assert ids(decision.covered) == [1, 3]
    assert ids(decision.short) == [2]


def test_read_stock_accepts_objects_and_callables():
    class Warehouse:
        def __init__(self):
            self.asked = []

        def get_stock(self, skus):
            self.asked.append(list(skus))
            return {"A": "3"}

    warehouse = Warehouse()
    assert read_stock(warehouse, ["B", "A", "A"]) == {"A": 3}
    assert warehouse.asked == [["A", "B"]]
    assert read_stock(lambda skus: dict.fromkeys(skus, 1), ["X"]) == {"X": 1}
    assert read_stock(warehouse, []) == {}
