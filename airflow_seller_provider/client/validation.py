"""Checks on caller input, made before any request so a bad value never reaches the API.

Shared with the operator: the same rule, the same message, wherever an id or reason enters.
"""

from __future__ import annotations

from typing import Any

from airflow_seller_provider.client.protocol import (
    INT32_MAX,
    MAX_REASON_CHARS,
    MAX_REASON_DETAIL_CHARS,
    SHORTAGE,
)

__all__ = [
    "INT32_MAX",
    "MAX_REASON_CHARS",
    "MAX_REASON_DETAIL_CHARS",
    "show",
    "validate_order_id",
    "validate_order_item_id",
    "validate_reason",
    "validate_reason_detail",
]


def show(value: Any, limit: int = 60) -> str:
    """A value for an error message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _positive_int32(value: Any, what: str, hint: str) -> int:
    problem = f"{what} {show(value)} is not a positive 32-bit integer; {hint}"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(problem)
    if isinstance(value, str):
        text = value.strip()
        # isdigit() alone accepts "²" and other non-ASCII digits.
        if not (text.isascii() and text.isdigit()):
            raise ValueError(problem)
        number = int(text)
    else:
        number = int(value)
    if not 1 <= number <= INT32_MAX:
        raise ValueError(problem)
    return number


def validate_order_item_id(value: Any) -> int:
    """An OrderItemId: an int (not a bool) or a string of ASCII digits, 1..2**31-1."""
    return _positive_int32(value, "order item id", "pass the OrderItemId from GetOrderItems")


def validate_order_id(value: Any) -> int:
    """An OrderId: same rule as an order item id."""
    return _positive_int32(value, "order id", "pass the OrderId from GetOrders")


def validate_reason(reason: Any) -> str:
    """A cancel Reason: a non-blank string of at most 255 characters, returned stripped."""
    if not isinstance(reason, str):
        raise TypeError(
            f"reason {show(reason)} must be a string such as '{SHORTAGE}' "
            "or a canceled-type Name listed by GetFailureReasons"
        )
    text = reason.strip()
    if not text:
        raise ValueError(
            f"reason is empty; use '{SHORTAGE}' or a canceled-type Name listed by GetFailureReasons"
        )
    if len(text) > MAX_REASON_CHARS:
        raise ValueError(
            f"reason {show(text)} is {len(text)} characters long; "
            f"at most {MAX_REASON_CHARS} are allowed"
        )
    _check_unicode(text, "reason")
    return text


def validate_reason_detail(value: Any) -> str | None:
    """An optional free-text ReasonDetail: None, or a string of at most 1000 characters.

    Any character is allowed (newlines, quotes, ``&``, ``+``, ``%``, non-ASCII): signing
    percent-encodes them. A blank string means no detail (None).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"reason detail {show(value)} must be a string or None")
    if len(value) > MAX_REASON_DETAIL_CHARS:
        raise ValueError(
            f"reason detail is {len(value)} characters long; "
            f"at most {MAX_REASON_DETAIL_CHARS} are allowed"
        )
    _check_unicode(value, "reason detail")
    return value if value.strip() else None


def _check_unicode(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text (it holds a lone surrogate)") from None
