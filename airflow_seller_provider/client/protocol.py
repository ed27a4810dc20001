"""Facts of the Seller Center protocol, in one place: names, values and limits the API
documents (``seller-center-api.md``), and the small rules that read them.

Pure Python, no third-party import: the client and the sandbox may both use it. The modules
these facts used to live in (``api``, ``models``, ``validation``, ``signing``) re-export them.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "API_VERSION",
    "BUSINESS_UNITS",
    "FORMATS",
    "FULFILLMENT",
    "seller_may_cancel",
    "GET_ORDERS_VERSIONS",
    "INT32_MAX",
    "MAX_ORDERS_PER_CALL",
    "MAX_REASON_CHARS",
    "MAX_REASON_DETAIL_CHARS",
    "MAX_STOCK_PAGE",
    "MAX_STOCK_UPDATES",
    "ORDER_ITEM_STATUSES",
    "ORDER_STATUSES",
    "RESERVED_PARAMS",
    "SHIPPED_BY_MARKETPLACE",
    "SHIPPED_BY_SELLER",
    "SHORTAGE",
    "SIGNATURE_IN_TEXT",
    "SORT_BY",
    "SORT_DIRECTIONS",
    "Shipper",
    "blank",
    "business_unit_of",
    "combined_shipper",
    "parse_iso",
    "who_ships",
]

log = logging.getLogger("airflow_seller_provider.client")

# ------------------------------------------------------------------- requests

API_VERSION = "1.0"
"""The ``Version`` every call is signed with."""
GET_ORDERS_VERSIONS = ("1.0", "2.0")
"""GetOrders answers Version 1.0 (deprecated in v600) and 2.0 (sorted by updated_at)."""
FORMATS = ("XML", "JSON")
RESERVED_PARAMS = frozenset({"Action", "Format", "Timestamp", "UserID", "Version", "Signature"})
"""Parameters set on every call (and signed); a caller may not override them."""
SIGNATURE_IN_TEXT = re.compile(r"(Signature=)[^&\s'\"<>]*", re.IGNORECASE)
"""A ``Signature=`` query parameter quoted in text: what redaction blanks out."""
INT32_MAX = 2**31 - 1
"""The largest OrderId or OrderItemId the API takes."""

# ------------------------------------------------------------- call limits

MAX_ORDERS_PER_CALL = 100
"""Orders per GetMultipleOrderItems call (the client's default batch, the sandbox's cap).
The live API's maximum is undocumented: past it, it answers E038 and the client halves the
batch."""
MAX_STOCK_UPDATES = 500
"""SKUs per UpdateStock call."""
MAX_STOCK_PAGE = 1000
"""SKUs per GetStock page."""

# ----------------------------------------------------------------- orders

SORT_BY = ("created_at", "updated_at")
SORT_DIRECTIONS = ("ASC", "DESC")
ORDER_ITEM_STATUSES = (
    "pending",
    "ready_to_ship",
    "shipped",
    "delivered",
    "canceled",
    "failed_delivery",
    "return_shipped_by_customer",
    "return_waiting_for_approval",
    "return_rejected",
    "returned",
)
ORDER_STATUSES = (
    "pending",
    "ready_to_ship",
    "shipped",
    "delivered",
    "canceled",
    "returned",
    "failed",
)
BUSINESS_UNITS = ("FACL", "FACO", "FAPE")
"""Business units (countries: Chile, Colombia, Peru); orders name theirs in lower case in
``OperatorCode`` (``facl``)."""

# ------------------------------------------------------------------ canceling

SHORTAGE = "SHORTAGE"
"""The cancel Reason for stock that ran out; always accepted besides the canceled-type
Names GetFailureReasons lists."""
MAX_REASON_CHARS = 255
MAX_REASON_DETAIL_CHARS = 1000

# ------------------------------------------------------------- who ships

FULFILLMENT = "Fulfillment"
# Who ships an item decides whether it uses the seller's stock and whether the seller may
# cancel it. The documented names: items say ``Fulfillment`` (Fulfillment by Falabella),
# orders ``Own Warehouse`` (filter value ``own_warehouse``); the seller ships ``Dropshipping``
# and ``Cross docking`` (through Falabella's hub). Compared case-, space- and
# underscore-insensitively.
SHIPPED_BY_MARKETPLACE = frozenset({"fulfillment", "own warehouse"})
SHIPPED_BY_SELLER = frozenset({"dropshipping", "cross docking"})
Shipper = Literal["marketplace", "seller", "unknown"]
_unknown_shipping_logged: set[str] = set()
_unknown_shipping_lock = threading.Lock()


def _shipping_key(value: str) -> str:
    return " ".join(value.replace("_", " ").replace("-", " ").lower().split())


def who_ships(shipping_type: str) -> Shipper:
    """``marketplace``, ``seller`` or ``unknown`` (blank or unrecognised: logged once per
    value, and never the seller's to cancel)."""
    key = _shipping_key(shipping_type or "")
    if key in SHIPPED_BY_MARKETPLACE:
        return "marketplace"
    if key in SHIPPED_BY_SELLER:
        return "seller"
    if key:
        with _unknown_shipping_lock:
            first = key not in _unknown_shipping_logged
            _unknown_shipping_logged.add(key)
        if first:
            log.warning(
                "Unrecognised ShippingType %r: items with it are never canceled (not ours to "
                "decide); known: Fulfillment, Own Warehouse, Dropshipping, Cross docking",
                shipping_type,
            )
    return "unknown"


def combined_shipper(item_type: str, order_type: str) -> Shipper:
    """Who ships an item, from its own ShippingType and its order's: one blank defers to
    the other; two that disagree are ``unknown`` (not ours to decide)."""
    item_key, order_key = (item_type or "").strip(), (order_type or "").strip()
    if not item_key:
        return who_ships(order_key)
    if not order_key:
        return who_ships(item_key)
    item_says, order_says = who_ships(item_key), who_ships(order_key)
    return item_says if item_says == order_says else "unknown"


def seller_may_cancel(status: str, shipper: Shipper) -> bool:
    """SetStatusToCanceled's rule: only a ``pending`` item, and never one the marketplace
    ships (E028). The shortage rule asks more (a known shipper, a business unit)."""
    return status.strip().lower() == "pending" and shipper != "marketplace"


def business_unit_of(operator_code: str) -> str | None:
    """``facl`` -> ``FACL``; blank or not a known unit -> None."""
    code = (operator_code or "").strip().upper()
    return code if code in BUSINESS_UNITS else None


# ------------------------------------------------------------------ values


def parse_iso(text: str) -> datetime:
    """ISO 8601 as the API writes it, a trailing ``Z`` read as UTC (Python 3.11's
    ``fromisoformat`` reads ``+0000``, ``+00:00`` and a space separator). Naive when the
    text has no offset; ValueError when it is no date."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def blank(value: Any) -> bool:
    """None, or a string of only whitespace: a setting left empty."""
    return value is None or (isinstance(value, str) and not value.strip())
