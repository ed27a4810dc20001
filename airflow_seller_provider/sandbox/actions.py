"""One function per API call, reading or changing the store.

Choices where the public documentation is silent (documented in the sandbox's README):
- GetOrders: Limit 1..1000, default 100; Offset >= 0; default sort ``created_at`` ASC, ties
  by OrderId (the same order with DESC reversed), so paging by Offset never skips or repeats;
  with ``Version=2.0`` the default sort is ``updated_at``; date bounds are inclusive;
  ``Status`` keeps orders with at least one item in that status.
- GetProducts: Limit 1..1000, default 1000; an empty SkuSellerList means every product.
- GetStock: ``Body/Products/Product[]{SellerSku, Warehouses/Warehouse[]{FacilityId,
  SellerWarehouseId, OperatorCode, Quantity}}``, one product per SKU, ``TotalCount`` in Head.
- UpdateStock: XML body ``Request/Warehouse/Stock[]``, at most 500; all or nothing.
- Missing OrderId/OrderIdList/OrderItemId/Reason: E001 naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_seller_provider.client.models import ORDER_STATUSES
from airflow_seller_provider.sandbox import views, xmlbody
from airflow_seller_provider.sandbox.dates import parse_any
from airflow_seller_provider.sandbox.errors import (
    INT32_MAX,
    ApiError,
    invalid_format,
    missing,
    quoted,
)
from airflow_seller_provider.sandbox.render import Node
from airflow_seller_provider.sandbox.seed import BUSINESS_UNITS
from airflow_seller_provider.sandbox.store import StockEntry, Store, User

MAX_LIMIT = 1000
ORDERS_DEFAULT_LIMIT = 100
PRODUCTS_DEFAULT_LIMIT = 1000
STOCK_DEFAULT_LIMIT = 1000
MAX_STOCK_ENTRIES = 500
MAX_ORDER_IDS = 100
_DIGITS = re.compile(r"[0-9]{1,10}")
_ID_LIST = re.compile(r"\[\s*[0-9]+(?:\s*,\s*[0-9]+)*\s*\]")
# Item statuses an order Status filter also matches, beyond the status of the same name.
_STATUS_ALIASES = {
    "failed": {"failed_delivery"},
    "returned": {"return_shipped_by_customer", "return_waiting_for_approval", "return_rejected"},
}


@dataclass(frozen=True, slots=True)
class Context:
    params: dict[str, str]
    user: User
    store: Store
    body: bytes = b""  # the request body (never signed)
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    response_type: str
    body: Node
    head: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Action:
    handler: Callable[[Context], Result]
    methods: tuple[str, ...] = ("GET", "POST")
    writes: bool = False


# -- parameters ------------------------------------------------------------------------
def _param(params: dict[str, str], name: str) -> str | None:
    """An optional parameter; blank counts as absent."""
    value = params.get(name, "").strip()
    return value or None


def _bounded_int(value: str | None, default: int, low: int, high: int, err: ApiError) -> int:
    if value is None:
        return default
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise err
    return int(value)


def _limit(params: dict[str, str], default: int) -> int:
    value = _param(params, "Limit")
    err = ApiError(19, f'E019: "{quoted(value or "")}" Invalid Limit')
    return _bounded_int(value, default, 1, MAX_LIMIT, err)


def _offset(params: dict[str, str]) -> int:
    value = _param(params, "Offset")
    err = ApiError(14, f'E014: "{quoted(value or "")}" Invalid Offset')
    return _bounded_int(value, 0, 0, INT32_MAX, err)


def _date(params: dict[str, str], name: str) -> str | None:
    value = _param(params, name)
    if value is None:
        return None
    try:
        return parse_any(value)
    except ValueError:
        raise ApiError(17, f'E017: "{quoted(value)}" Invalid Date Format for {name}') from None


def _positive_id(value: str) -> int | None:
    text = value.strip()
    if not _DIGITS.fullmatch(text) or not 0 < int(text) <= INT32_MAX:
        return None
    return int(text)


# -- calls -----------------------------------------------------------------------------
def get_orders(ctx: Context) -> Result:
    params = ctx.params
    created_after, updated_after = _date(params, "CreatedAfter"), _date(params, "UpdatedAfter")
    if created_after is None and updated_after is None:
        raise ApiError(18, "E018: Either CreatedAfter or UpdatedAfter is mandatory")
    created_before, updated_before = _date(params, "CreatedBefore"), _date(params, "UpdatedBefore")
    status = _param(params, "Status")
    if status is not None and status not in ORDER_STATUSES:
        raise ApiError(36, f'E036: "{quoted(status)}" Invalid status filter')
    wanted = {status} | _STATUS_ALIASES.get(status, set()) if status else set()
    limit, offset = _limit(params, ORDERS_DEFAULT_LIMIT), _offset(params)
    # Version 2.0 (GetOrders only) sorts by updated_at unless told otherwise.
    default_sort = "updated_at" if params.get("Version") == "2.0" else "created_at"
    sort_by = _param(params, "SortBy") or default_sort
    if sort_by not in ("created_at", "updated_at"):
        raise ApiError(75, f'E075: "{quoted(sort_by)}" Invalid sort filter')
    direction = (_param(params, "SortDirection") or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise ApiError(74, f'E074: "{quoted(direction)}" Invalid sort direction')

    def keep(order: dict[str, Any]) -> bool:
        created, updated = order["created_at"], order["updated_at"]
        return (
            (created_after is None or created >= created_after)
            and (created_before is None or created <= created_before)
            and (updated_after is None or updated >= updated_after)
            and (updated_before is None or updated <= updated_before)
            and (not wanted or any(i["status"] in wanted for i in order["items"]))
        )

    def query() -> list[dict[str, Any]]:
        found = [o for o in ctx.store.orders_of(ctx.user.seller_id) if keep(o)]
        if sort_by == "updated_at":
            found.sort(key=lambda o: (o["updated_at"], o["order_id"]))
        if direction == "DESC":
            found.reverse()
        return found

    key = (
        ctx.user.seller_id,
        created_after,
        created_before,
        updated_after,
        updated_before,
        status,
        sort_by,
        direction,
    )
    with ctx.store.lock:
        matches = ctx.store.query_orders(key, query)
        page = [views.order(o) for o in matches[offset : offset + limit]]
    body = {"Orders": {"Order": page}}
    return Result("Orders", body, {"TotalCount": str(len(matches))})


def get_order_items(ctx: Context) -> Result:
    raw = ctx.params.get("OrderId")
    if raw is None or not raw.strip():
        raise missing("OrderId")
    order_id = _positive_id(raw)
    with ctx.store.lock:
        order = ctx.store.order(order_id) if order_id else None
        if order is None or order["seller_id"] != ctx.user.seller_id:
            raise ApiError(16, f'E016: "{quoted(raw)}" Invalid Order ID')
        unit = views.unit_of(order)
        items = [views.order_item(i, unit) for i in order["items"]]
    return Result("OrderItems", {"OrderItems": {"OrderItem": items}})


def get_multiple_order_items(ctx: Context) -> Result:
    raw = ctx.params.get("OrderIdList")
    if raw is None or not raw.strip():
        raise missing("OrderIdList")
    if not _ID_LIST.fullmatch(raw.strip()):
        raise ApiError(56, "E056: Invalid OrderIdList format. Must use array format [1,2]")
    texts = re.findall(r"[0-9]+", raw)
    if len(texts) > MAX_ORDER_IDS:
        raise ApiError(38, f"E038: Too many orders were requested (at most {MAX_ORDER_IDS})")
    ids = [i for i in map(_positive_id, texts) if i is not None]
    if len(ids) != len(texts):
        raise ApiError(37, "E037: One or more order id in the list are incorrect")
    orders = []
    with ctx.store.lock:
        for order_id in dict.fromkeys(ids):
            order = ctx.store.order(order_id)
            if order is None or order["seller_id"] != ctx.user.seller_id:
                continue
            orders.append(views.order_with_items(order))
    if not orders:
        raise ApiError(39, "E039: No orders were found")
    return Result("OrderItems", {"Orders": {"Order": orders}})


def _sku_list(params: dict[str, str]) -> set[str] | None:
    """SkuSellerList as a set; None when absent or empty (every product)."""
    raw = _param(params, "SkuSellerList")
    if raw is None:
        return None
    try:
        listed = json.loads(raw)
    except ValueError:
        listed = None
    if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
        raise ApiError(70, "E070: You have corrupt data in your sku seller list.")
    return set(listed) or None


def get_products(ctx: Context) -> Result:
    skus = _sku_list(ctx.params)
    limit, offset = _limit(ctx.params, PRODUCTS_DEFAULT_LIMIT), _offset(ctx.params)
    search = (_param(ctx.params, "Search") or "").lower()
    flt = (_param(ctx.params, "Filter") or "all").lower()
    store = ctx.store
    with store.lock:
        found = []
        for p in store.products_of(ctx.user.seller_id):
            if skus is not None and p["seller_sku"] not in skus:
                continue
            if search and search not in p["seller_sku"].lower() and search not in p["name"].lower():
                continue
            stock = store.reported_stock(p)
            if _filter(p, stock, flt):
                found.append((p, stock))
        page = [views.product(p, stock) for p, stock in found[offset : offset + limit]]
    return Result("Products", {"Products": {"Product": page}})


def _filter(product: dict[str, Any], stock: dict[str, int], name: str) -> bool:
    """GetProducts' ``Filter``: the values the official PHP SDK names (its
    ``ProductFilters``). Every sandbox product has an image and passed quality control, so
    ``image-missing``, ``pending`` and ``rejected`` keep none; any other value keeps all."""
    if name in ("live", "active"):
        return product["status"] == "active"
    if name in ("inactive", "deleted"):
        return product["status"] == name
    if name in ("image-missing", "pending", "rejected"):
        return False
    if name == "sold-out":
        return all(level <= 0 for level in stock.values())
    return True


def get_stock(ctx: Context) -> Result:
    """Sellable stock per SKU and warehouse: the same figure as GetProducts' Stock."""
    skus = _sku_list(ctx.params)
    limit, offset = _limit(ctx.params, STOCK_DEFAULT_LIMIT), _offset(ctx.params)
    store = ctx.store
    with store.lock:
        found = [
            p
            for p in store.products_of(ctx.user.seller_id)
            if skus is None or p["seller_sku"] in skus
        ]
        page = [
            views.stock_product(p, store.reported_stock(p)) for p in found[offset : offset + limit]
        ]
    return Result("Stock", {"Products": {"Product": page}}, {"TotalCount": str(len(found))})


def _user_agent_unit(user_agent: str) -> str | None:
    """The business unit a five-part User-Agent names last (``.../PROPIA/FACL``)."""
    parts = user_agent.split("/")
    if len(parts) != 5:
        return None
    unit = parts[4].strip().upper()
    return unit if unit in BUSINESS_UNITS else None


def update_stock(ctx: Context) -> Result:
    """Set declared quantities from ``Request/Warehouse/Stock[]``: all or nothing."""
    if not ctx.body.strip():
        raise ApiError(30, "E030: Empty Request")
    try:
        root = xmlbody.parse(ctx.body)
    except xmlbody.BodyError as exc:
        raise invalid_format(str(exc)) from None
    if root.tag != "Request":
        raise invalid_format("the body's root element must be Request")
    stocks = [stock for place in root.iterfind("Warehouse") for stock in place.iterfind("Stock")]
    if not stocks:
        raise invalid_format("no Request/Warehouse/Stock entry")
    if len(stocks) > MAX_STOCK_ENTRIES:
        raise invalid_format(
            f"at most {MAX_STOCK_ENTRIES} SKUs (Stock entries) per request, got {len(stocks)}"
        )
    entries = [
        StockEntry(
            xmlbody.child_text(stock, "SellerSku"),
            xmlbody.child_text(stock, "Quantity"),
            xmlbody.child_text(stock, "GSCFacilityId"),
            xmlbody.child_text(stock, "SellerWarehouseId"),
        )
        for stock in stocks
    ]
    seller = ctx.store.seller(ctx.user.seller_id)
    unit = _user_agent_unit(ctx.user_agent) or seller["business_unit"]
    ctx.store.update_stock(ctx.user.seller_id, entries, unit)
    return Result("", None)


def get_failure_reasons(ctx: Context) -> Result:
    with ctx.store.lock:
        reasons = [views.reason(r) for r in ctx.store.failure_reasons()]
    return Result("Reasons", {"Reasons": {"Reason": reasons}})


def set_status_to_canceled(ctx: Context) -> Result:
    params = ctx.params
    raw_id = params.get("OrderItemId")
    if raw_id is None or not raw_id.strip():
        raise missing("OrderItemId")
    reason = params.get("Reason")
    if reason is None or not reason.strip():
        raise missing("Reason")
    item_id = _positive_id(raw_id)
    if item_id is None:
        raise ApiError(20, f'E020: "{quoted(raw_id)}" Invalid Order Item ID')
    detail = params.get("ReasonDetail", "")
    items = ctx.store.cancel(ctx.user.seller_id, item_id, raw_id, reason, detail)
    canceled = [views.canceled_item(item) for item in items]
    return Result("OrderItems", {"OrderItems": {"OrderItem": canceled}})


ACTIONS: dict[str, Action] = {
    "GetOrders": Action(get_orders),
    "GetOrderItems": Action(get_order_items),
    "GetMultipleOrderItems": Action(get_multiple_order_items),
    "GetProducts": Action(get_products),
    "GetFailureReasons": Action(get_failure_reasons),
    "GetStock": Action(get_stock, methods=("GET",)),
    "UpdateStock": Action(update_stock, methods=("POST",), writes=True),
    "SetStatusToCanceled": Action(set_status_to_canceled, methods=("POST",), writes=True),
}
