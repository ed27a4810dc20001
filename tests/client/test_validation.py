"""The input checks the client and the operator share."""

from __future__ import annotations

import pytest

from airflow_seller_provider.client.validation import (
    validate_order_id,
    validate_order_item_id,
    validate_reason,
    validate_reason_detail,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), (2**31 - 1, 2**31 - 1), ("42", 42), (" 42\n", 42), ("007", 7)],
)
def test_valid_ids(value, expected) -> None:
    assert validate_order_item_id(value) == expected
    assert validate_order_id(value) == expected


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("abc", ValueError),
        (-1, ValueError),
        (0, ValueError),
        (2**31, ValueError),
        ("2147483648", ValueError),
        ("-5", ValueError),
        ("+5", ValueError),
        ("1.5", ValueError),
        ("", ValueError),
        ("  ", ValueError),
        ("１２", ValueError),  # full-width digits
        ("²", ValueError),
        (None, TypeError),
        (1.5, TypeError),
        (2.0, TypeError),
        (True, TypeError),
        (False, TypeError),
        (b"12", TypeError),
        ([1], TypeError),
    ],
)
def test_invalid_ids(value, kind) -> None:
    with pytest.raises(kind) as info:
        validate_order_item_id(value)
    assert "order item id" in str(info.value) and repr(value)[:20] in str(info.value)
    with pytest.raises(kind) as info:
        validate_order_id(value)
    assert "pass the OrderId from GetOrders" in str(info.value)


def test_id_message() -> None:
    with pytest.raises(ValueError) as info:
        validate_order_item_id("abc")
    assert str(info.value) == (
        "order item id 'abc' is not a positive 32-bit integer; "
        "pass the OrderItemId from GetOrderItems"
    )


def test_long_bad_values_are_shortened_in_messages() -> None:
    with pytest.raises(ValueError) as info:
        validate_order_item_id("x" * 10_000)
    assert len(str(info.value)) < 200


def test_reason() -> None:
    assert validate_reason("SHORTAGE") == "SHORTAGE"
    assert validate_reason("  Wrong address ") == "Wrong address"
    assert validate_reason("r" * 255) == "r" * 255
    for bad, kind in [("", ValueError), ("   ", ValueError), ("r" * 256, ValueError)]:
        with pytest.raises(kind, match="reason"):
            validate_reason(bad)
    for bad in (None, 5, b"SHORTAGE"):
        with pytest.raises(TypeError, match="reason"):
            validate_reason(bad)
    with pytest.raises(ValueError):
        validate_reason("bad \udc80")


@pytest.mark.parametrize(
    "detail",
    ['line one\nline "two"', "a & b + c = 100%", "sin stock, lo siento 🙏", "x" * 1000],
)
def test_reason_detail_allows_any_text(detail) -> None:
    assert validate_reason_detail(detail) == detail


def test_reason_detail_limits() -> None:
    assert validate_reason_detail(None) is None
    assert validate_reason_detail("   ") is None
    with pytest.raises(ValueError, match="1000"):
        validate_reason_detail("x" * 1001)
    with pytest.raises(TypeError):
        validate_reason_detail(12)
