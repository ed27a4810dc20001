from __future__ import annotations

import pytest

from airflow_seller_provider.operators.targets import Target, parse_targets


def test_one_id_a_list_and_entries():
    assert parse_targets(5) == [Target(5)]
    assert parse_targets("17") == [Target(17)]
    assert parse_targets([1, "2", {"order_item_id": 3, "order_id": "30"}]) == [
        Target(1),
        Target(2),
        Target(3, 30),
    ]
    assert parse_targets({"order_item_id": "4", "order_id": 40}) == [Target(4, 40)]
    assert parse_targets((7, 8)) == [Target(7), Target(8)]


def test_duplicates_collapse_and_keep_the_order_id():
    assert parse_targets([1, {"order_item_id": 1, "order_id": 9}, 1]) == [Target(1, 9)]


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("abc", "'abc'"),
        (-1, "-1"),
        (0, "0"),
        (2**31, str(2**31)),
        (None, "None"),
        ([], "empty"),
        ([1, "x"], "'x'"),
        (1.5, "1.5"),
        (True, "True"),
        ([1, -5], "-5"),
        ({"order_id": 3}, "order_item_id"),
        ({"order_item_id": 3, "orderid": 3}, "order_item_id"),
        ({"order_item_id": 3, "order_id": "x"}, "'x'"),
    ],
)
def test_bad_ids_are_refused_with_the_value_named(value, needle):
    with pytest.raises((TypeError, ValueError)) as info:
        parse_targets(value)
    assert needle in str(info.value)


def test_the_bad_entry_position_is_named_in_a_batch():
    with pytest.raises(ValueError, match=r"entry 2"):
        parse_targets([1, 2, "x3"])
