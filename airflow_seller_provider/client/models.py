"""Typed views of Seller Center answers.

Models are built from the normalised tree both formats parse into (every leaf a string),
so XML and JSON give equal objects. ``raw`` keeps the whole element for fields not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

# Protocol facts, re-exported here where callers have always found them.
from airflow_seller_provider.client.protocol import (
    BUSINESS_UNITS,
    FULFILLMENT,
    ORDER_ITEM_STATUSES,
    ORDER_STATUSES,
    SHIPPED_BY_MARKETPLACE,
    SHIPPED_BY_SELLER,
    Shipper,
    business_unit_of,
    combined_shipper,
    parse_iso,
    seller_may_cancel,
    who_ships,
)

__all__ = [
    "BUSINESS_UNITS",
    "FULFILLMENT",
    "ORDER_ITEM_STATUSES",
    "ORDER_STATUSES",
    "SHIPPED_BY_MARKETPLACE",
    "SHIPPED_BY_SELLER",
    "CancelResult",
    "Order",
    "OrderItem",
    "OrdersPage",
    "Product",
    "Reason",
    "Response",
    "Shipper",
    "WarehouseStock",
    "as_list",
    "business_unit_of",
    "children",
    "combined_shipper",
    "parse_datetime",
    "who_ships",
]


def parse_datetime(value: Any) -> datetime | None:
    """Accept ``YYYY-MM-DD HH:MM:SS`` (older platforms, seller's local time, returned naive)
    and ISO 8601 with or without an offset (``+0000``, ``+00:00``, ``Z``). Blank -> None."""
    if value is None:
        return None
    text = (value if type(value) is str else str(value)).strip()
    if not text:
        return None
    return _parse_datetime_text(text)


@lru_cache(maxsize=4096)
def _parse_datetime_text(text: str) -> datetime:
    # Cached: the items of an order share their dates, and datetimes are immutable.
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise ValueError(f"unreadable date {text!r}") from exc


def _text(node: Any, name: str, default: str = "") -> str:
    value = node.get(name, default) if isinstance(node, dict) else default
    if type(value) is str:  # the common case, first
        return value
    if value is None or isinstance(value, dict | list):
        return default
    return str(value)


def _coerce(value: Any) -> str:
    """``_text``'s rule for a value that is not a str: blank for None and containers."""
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _int(node: Any, name: str, default: int = 0) -> int:
    return _int_of(_text(node, name), default)


def _int_of(text: str, default: int = 0) -> int:
    if text.isdigit() and text.isascii():
        return int(text)
    text = text.strip()
    try:
        return int(text) if text else default
    except ValueError:
        try:
            return int(float(text))
        except (ValueError, OverflowError):
            return default


def as_list(value: Any) -> list[Any]:
    """The API's list quirk: absent or ``""`` is empty, one child is an object, more a list."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [v for v in value if v != ""]
    return [value]


def children(node: Any, container: str, child: str) -> list[Any]:
    """``node[container][child]`` as a list, whatever shape the quirks gave it."""
    box = node.get(container) if isinstance(node, dict) else None
    if not isinstance(box, dict):
        return []
    return as_list(box.get(child))


_NO_FIELDS: dict[str, Any] = {}
_UNKNOWN: Any = object()


@dataclass(frozen=True, slots=True)
class OrderItem:
    order_item_id: int
    order_id: int
    sku: str
    status: str
    shipping_type: str = ""
    shop_sku: str = ""
    name: str = ""
    reason: str = ""
    reason_detail: str = ""
    package_id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    operator_code: str = ""
    """The order's OperatorCode (``facl``): items carry none of their own."""
    order_shipping_type: str = ""
    """The order's ShippingType (``Own Warehouse``, ``Dropshipping``...), when known."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_fulfillment(self) -> bool:
        """Shipped by the marketplace (Fulfillment by Falabella): not the seller's stock."""
        return self.shipped_by == "marketplace"

    @property
    def seller_may_cancel(self) -> bool:
        """Whether SetStatusToCanceled would accept it now (pending, not Fulfillment)."""
        return seller_may_cancel(self.status, self.shipped_by)

    @property
    def shipped_by(self) -> Shipper:
        return combined_shipper(self.shipping_type, self.order_shipping_type)

    @property
    def business_unit(self) -> str | None:
        return business_unit_of(self.operator_code)

    @classmethod
    def from_node(
        cls,
        node: dict[str, Any],
        order_id: int | None = None,
        operator_code: str = "",
        order_shipping_type: str = "",
    ) -> OrderItem:
        # The hot path of every item list: the rules of ``_text``/``_int``/``parse_datetime``
        # on values fetched once.
        get = node.get if isinstance(node, dict) else _NO_FIELDS.get
        fallback = order_id or 0
        return cls(
            _int_of(_str(get("OrderItemId"))),
            _int_of(_str(get("OrderId")), fallback) or fallback,
            _str(get("Sku")),
            _str(get("Status")),
            _str(get("ShippingType")),
            _str(get("ShopSku")),
            _str(get("Name")),
            _str(get("Reason")),
            _str(get("ReasonDetail")),
            _str(get("PackageId")),
            _date(get("CreatedAt")),
            _date(get("UpdatedAt")),
            operator_code,
            order_shipping_type,
            node,
        )


def _str(value: Any) -> str:
    return value if type(value) is str else _coerce(value)


def _date(value: Any) -> datetime | None:
    text = _str(value).strip()
    return _parse_datetime_text(text) if text else None


@dataclass(frozen=True, slots=True)
class Order:
    order_id: int
    order_number: str
    created_at: datetime | None
    updated_at: datetime | None
    statuses: tuple[str, ...] = ()
    items_count: int = 0
    price: str = ""
    operator_code: str = ""
    """``facl``, ``faco``, ``fape``: the business unit (country) whose stock the order uses."""
    shipping_type: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def business_unit(self) -> str | None:
        return business_unit_of(self.operator_code)

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> Order:
        return cls(
            order_id=_int(node, "OrderId"),
            order_number=_text(node, "OrderNumber"),
            created_at=parse_datetime(_text(node, "CreatedAt")),
            updated_at=parse_datetime(_text(node, "UpdatedAt")),
            statuses=tuple(str(s) for s in children(node, "Statuses", "Status")),
            items_count=_int(node, "ItemsCount"),
            price=_text(node, "Price"),
            operator_code=_text(node, "OperatorCode").strip().lower(),
            shipping_type=_text(node, "ShippingType").strip(),
            raw=node,
        )


@dataclass(frozen=True, slots=True)
class OrdersPage:
    """One GetOrders page: its orders, the Head's TotalCount (None when absent), and the
    Offset and Limit it was asked with."""

    orders: list[Order]
    total_count: int | None
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class Product:
    seller_sku: str
    name: str
    stock: dict[str, int]
    """Sellable stock per business unit, keyed by upper-case operator code (``FACL``); a unit
    whose Stock is blank or unreadable is left out."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> Product:
        stock: dict[str, int] = {}
        for unit in children(node, "BusinessUnits", "BusinessUnit"):
            code = _text(unit, "OperatorCode").strip().upper()
            # A blank or unreadable Stock is unknown stock, not zero stock.
            units = _int_of(_text(unit, "Stock"), _UNKNOWN)
            if code and units is not _UNKNOWN:
                stock[code] = units
        return cls(
            seller_sku=_text(node, "SellerSku"), name=_text(node, "Name"), stock=stock, raw=node
        )


@dataclass(frozen=True, slots=True)
class WarehouseStock:
    """One row of GetStock: a SKU's sellable quantity in one warehouse (reserved units
    excluded). ``operator_code`` is blank when the answer does not name the unit."""

    seller_sku: str
    quantity: int
    facility_id: str = ""
    seller_warehouse_id: str = ""
    operator_code: str = ""

    @classmethod
    def from_product_node(cls, node: dict[str, Any]) -> list[WarehouseStock]:
        sku = _text(node, "SellerSku")
        return [
            cls(
                seller_sku=sku,
                quantity=_int(unit, "Quantity"),
                facility_id=_text(unit, "FacilityId"),
                seller_warehouse_id=_text(unit, "SellerWarehouseId"),
                operator_code=_text(unit, "OperatorCode").strip().lower(),
            )
            for unit in children(node, "Warehouses", "Warehouse")
            if isinstance(unit, dict)
        ]


@dataclass(frozen=True, slots=True)
class Reason:
    type: str
    name: str

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> Reason:
        return cls(type=_text(node, "Type"), name=_text(node, "Name"))


@dataclass(frozen=True, slots=True)
class CancelResult:
    """A successful SetStatusToCanceled. Some deployments answer with an empty Body, so
    every field but the id may be blank."""

    order_item_id: int
    purchase_order_id: str = ""
    purchase_order_number: str = ""
    package_id: str = ""

    @classmethod
    def from_node(cls, node: dict[str, Any] | None, order_item_id: int) -> CancelResult:
        node = node or {}
        return cls(
            order_item_id=_int(node, "OrderItemId", order_item_id) or order_item_id,
            purchase_order_id=_text(node, "PurchaseOrderId"),
            purchase_order_number=_text(node, "PurchaseOrderNumber"),
            package_id=_text(node, "PackageId"),
        )


@dataclass(frozen=True, slots=True)
class Response:
    """A parsed SuccessResponse: ``head`` and ``body`` as normalised trees."""

    action: str
    head: dict[str, Any]
    body: Any
    http_status: int = 200

    @property
    def total_count(self) -> int | None:
        text = _text(self.head, "TotalCount").strip()
        return int(text) if text.isdigit() else None
