"""The shortage rule: reservations, business units, packages, what is never canceled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_seller_provider.short_stock.rule import (
    ON_HAND,
    PACKAGE,
    SELLABLE,
    ScannedItem,
    StockFigures,
    decide_shortages,
)

T0 = datetime(2026, 11, 1, 12, 0, 0)


def item(
    item_id,
    order_id,
    sku="A",
    minutes=0,
    status="pending",
    shipping="Dropshipping",
    unit="FACL",
    package="",
    order_shipping="",
):
    return ScannedItem(
        order_item_id=item_id,
        order_id=order_id,
        sku=sku,
        order_created_at=T0 + timedelta(minutes=minutes),
        status=status,
        shipping_type=shipping,
        business_unit=unit,
        package_id=package,
        order_shipping_type=order_shipping,
    )


def _fields(value):
    return {name: getattr(value, name) for name in ScannedItem.__slots__}


def ids(items):
    return sorted(i.order_item_id for i in items)


def on_hand(units):
    return StockFigures(units, ON_HAND, "test warehouse")


def sellable(units):
    return StockFigures(units, SELLABLE, "test seller center")


def three(minutes=(0, 10, 20)):
    return [item(n + 1, (n + 1) * 10, "A", m) for n, m in enumerate(minutes)]


# -- the three rows of issue 13 ---------------------------------------------------------
def test_sold_out_is_not_short_stock_zero_with_three_pending_cancels_nothing():
    decision = decide_shortages(three(), sellable({("FACL", "A"): 0}))
    assert ids(decision.short) == []
    assert ids(decision.covered) == [1, 2, 3]


def test_on_hand_5_three_pending_stock_2_cancels_nothing():
    assert decide_shortages(three(), sellable({("FACL", "A"): 2})).short == []
    assert decide_shortages(three(), on_hand({("FACL", "A"): 5})).short == []


def test_below_zero_the_newest_items_are_short():
    decision = decide_shortages(three(), sellable({("FACL", "A"): -2}))
    assert ids(decision.short) == [2, 3]
    assert ids(decision.covered) == [1]


def test_on_hand_pending_items_take_units_oldest_first():
    items = three(minutes=(20, 0, 10))
    decision = decide_shortages(items, on_hand({(None, "A"): 1}))
    assert ids(decision.covered) == [2]
    assert ids(decision.short) == [1, 3]


def test_sellable_and_on_hand_agree_when_on_hand_is_sellable_plus_reserved():
    items = three() + [item(9, 90, "A", 30)]
    for stock in range(-6, 3):
        by_sellable = decide_shortages(items, sellable({("FACL", "A"): stock}))
        by_on_hand = decide_shortages(items, on_hand({("FACL", "A"): max(stock + 4, 0)}))
        assert ids(by_sellable.short) == ids(by_on_hand.short)
    assert len(decide_shortages(items, sellable({("FACL", "A"): -9})).short) == 4


def test_ties_on_created_at_break_by_order_id_then_item_id():
    items = [item(8, 21), item(9, 20), item(7, 20), item(6, 22)]
    decision = decide_shortages(items, on_hand({("FACL", "A"): 2}))
    assert ids(decision.covered) == [7, 9]
    assert [i.order_item_id for i in decision.short] == [8, 6]


def test_aware_and_naive_dates_sort_together():
    aware = item(1, 1)
    aware = ScannedItem(
        **{**_fields(aware), "order_created_at": datetime(2026, 1, 1, 12, tzinfo=UTC)}
    )
    naive = ScannedItem(**{**_fields(item(2, 2)), "order_created_at": datetime(2026, 1, 1, 11)})
    decision = decide_shortages([aware, naive], on_hand({("FACL", "A"): 1}))
    assert ids(decision.covered) == [2]


# -- business units -----------------------------------------------------------------------
def test_each_order_draws_on_its_own_business_unit():
    items = [
        item(1, 1, "A", 0, unit="FACL"),
        item(2, 2, "A", 1, unit="FACO"),
        item(3, 3, "A", 2, unit="FACO"),
        item(4, 4, "A", 3, unit="FAPE"),
    ]
    stock = sellable({("FACL", "A"): 5, ("FACO", "A"): -1, ("FAPE", "A"): 0})
    decision = decide_shortages(items, stock)
    assert ids(decision.short) == [3]
    assert decision.short_by_unit() == {"FACO": 1}


def test_a_unit_the_product_lacks_is_unknown_stock_not_zero():
    items = [item(1, 1, "A", unit="FACL"), item(2, 2, "A", unit="FAPE")]
    decision = decide_shortages(items, sellable({("FACL", "A"): -1}))
    assert ids(decision.short) == [1]
    assert ids(decision.unknown_stock) == [2]


def test_a_row_for_every_unit_applies_where_the_unit_has_none_of_its_own():
    items = [item(1, 1, "A", unit="FACL"), item(2, 2, "A", unit="FACO")]
    stock = on_hand({(None, "A"): 0, ("FACL", "A"): 1})
    decision = decide_shortages(items, stock)
    assert ids(decision.covered) == [1]
    assert ids(decision.short) == [2]


def test_an_order_without_a_business_unit_is_never_canceled():
    items = [item(1, 1, "A", unit=None), item(2, 2, "A")]
    decision = decide_shortages(items, on_hand({(None, "A"): 0}))
    assert ids(decision.no_business_unit) == [1]
    assert ids(decision.short) == [2]


# -- who ships ----------------------------------------------------------------------------
def test_marketplace_shipped_and_not_pending_items_do_not_compete():
    items = [
        item(1, 1, status="Pending", shipping="FULFILLMENT"),
        item(2, 2, shipping="", order_shipping="Own Warehouse"),
        item(3, 3, status="ready_to_ship"),
        item(4, 4, shipping="Cross docking"),
    ]
    decision = decide_shortages(items, on_hand({("FACL", "A"): 0}))
    assert ids(decision.ignored) == [1, 2, 3]
    assert ids(decision.short) == [4]
    assert decision.considered == 1


def test_unknown_shipping_is_never_canceled_and_only_makes_the_rule_cancel_less():
    items = [item(1, 1, "A", 0), item(2, 2, "A", 5, shipping="Teleport"), item(3, 3, "A", 9)]
    decision = decide_shortages(items, on_hand({("FACL", "A"): 1}))
    assert ids(decision.unknown_shipping) == [2]
    assert ids(decision.short) == [3]
    assert ids(decision.covered) == [1]
    # Sellable: the unrecognised item may hold a reservation; the short one stays the newest.
    decision = decide_shortages(items, sellable({("FACL", "A"): -1}))
    assert ids(decision.short) == [3]


def test_item_and_order_shipping_types_that_disagree_are_unknown():
    items = [item(1, 1, shipping="Dropshipping", order_shipping="Own Warehouse")]
    decision = decide_shortages(items, on_hand({("FACL", "A"): 0}))
    assert ids(decision.unknown_shipping) == [1] and decision.short == []


# -- unknown SKUs, duplicates -------------------------------------------------------------
def test_unknown_skus_are_reported_not_canceled():
    items = [item(1, 1, "A"), item(2, 2, "B")]
    decision = decide_shortages(items, on_hand({("FACL", "A"): 0}))
    assert ids(decision.short) == [1]
    assert ids(decision.unknown_stock) == [2]
    assert decision.considered == 2


def test_an_item_listed_twice_counts_once():
    items = [item(1, 1, "A"), item(1, 1, "A"), item(2, 2, "A", 5)]
    decision = decide_shortages(items, on_hand({("FACL", "A"): 1}))
    assert ids(decision.covered) == [1] and ids(decision.short) == [2]


def test_bad_arguments():
    with pytest.raises(ValueError, match="counts"):
        StockFigures({}, "onhand")
    with pytest.raises(ValueError, match="cancel_scope"):
        decide_shortages([], on_hand({}), cancel_scope="order")


# -- packages -----------------------------------------------------------------------------
def test_package_scope_a_package_short_of_any_unit_is_short_whole_and_leaves_its_units():
    items = [
        # oldest package needs A and B; only A is there for it
        item(1, 1, "A", 0, package="P1"),
        item(2, 1, "B", 0, package="P1"),
        # a later package needing A only gets the A the first package left
        item(3, 2, "A", 5, package="P2"),
    ]
    stock = on_hand({("FACL", "A"): 1, ("FACL", "B"): 0})
    by_package = decide_shortages(items, stock, cancel_scope=PACKAGE)
    assert ids(by_package.short) == [1, 2]
    assert ids(by_package.covered) == [3]
    by_item = decide_shortages(items, stock)
    assert ids(by_item.short) == [2, 3]
    assert ids(by_item.covered) == [1]


def test_package_scope_with_sellable_figures():
    items = [
        item(1, 1, "A", 0, package="P1"),
        item(2, 1, "A", 0, package="P1"),
        item(3, 2, "A", 5, package="P2"),
    ]
    # on hand = -1 + 3 = 2: P1 (2 units) fits, P2 is short.
    decision = decide_shortages(items, sellable({("FACL", "A"): -1}), cancel_scope=PACKAGE)
    assert ids(decision.covered) == [1, 2] and ids(decision.short) == [3]
    # on hand = -2 + 3 = 1: P1 does not fit and leaves its unit to P2.
    decision = decide_shortages(items, sellable({("FACL", "A"): -2}), cancel_scope=PACKAGE)
    assert ids(decision.short) == [1, 2] and ids(decision.covered) == [3]


def test_package_scope_never_cancels_a_package_holding_an_unknown():
    items = [
        item(1, 1, "A", 0, package="P1"),
        item(2, 1, "B", 0, package="P1"),  # B unknown to the source
        item(3, 2, "A", 1, package="P2", shipping="Teleport"),
        item(4, 2, "A", 1, package="P2"),
    ]
    decision = decide_shortages(items, on_hand({("FACL", "A"): 0}), cancel_scope=PACKAGE)
    assert decision.short == []
    assert ids(decision.unknown_stock) == [1, 2]
    assert ids(decision.unknown_shipping) == [3, 4]


def test_items_without_a_package_id_are_packages_of_their_own():
    items = [item(1, 1, "A", 0), item(2, 1, "A", 0)]
    decision = decide_shortages(items, on_hand({("FACL", "A"): 1}), cancel_scope=PACKAGE)
    assert ids(decision.covered) == [1] and ids(decision.short) == [2]
