"""One function per API call, reading or changing the store.

Choices where the public documentation is silent (documented in the README):
- GetOrders: Limit 1..1000, default 100; Offset >= 0; default sort ``created_at`` ASC, ties
  by OrderId (the same order with DESC reversed), so paging by Offset never skips or repeats;
  date bounds are inclusive; ``Status`` keeps orders with at least one item in that status.
- GetProducts: Limit 1..1000, default 1000; an empty SkuSellerList means every product.
- Missing OrderId/OrderIdList/OrderItemId/Reason: E001 naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_seller_provider.client.models import ORDER_STATUSES
from airflow_seller_provider.sandbox import views
from airflow_seller_provider.sandbox.dates import parse_any
from airflow_seller_provider.sandbox.errors import INT32_MAX, ApiError, missing, quoted
from airflow_seller_provider.sandbox.render import Node
from airflow_seller_provider.sandbox.store import Store, User

MAX_LIMIT = 1000
ORDERS_DEFAULT_LIMIT = 100
PRODUCTS_DEFAULT_LIMIT = 1000
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
    sort_by = _param(params, "SortBy") or "created_at"
    if sort_by not in ("created_at", "updated_at"):
        raise ApiError(74, f'E074: "{quoted(sort_by)}" Invalid sort filter')
    direction = (_param(params, "SortDirection") or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise ApiError(75, f'E075: "{quoted(direction)}" Invalid sort direction')

    def keep(order: dict[str, Any]) -> bool:
        created, updated = order["created_at"], order["updated_at"]
        return (
            (created_after is None or created >= created_after)
            and (created_before is None or created <= created_before)
            and (updated_after is None or updated >= updated_after)
            and (updated_before is None or updated <= updated_before)
            and (not wanted or any(i["status"] in wanted for i in order["items"]))
        )

    with ctx.store.lock:
        matches = [o for o in ctx.store.orders_of(ctx.user.seller_id) if keep(o)]
        if sort_by == "updated_at":
            matches.sort(key=lambda o: (o["updated_at"], o["order_id"]))
        if direction == "DESC":
            matches.reverse()
        page = [views.order(o) for o in matches[offset : offset + limit]]
    body = {"Orders": {"Order": page}}
    return Result("Orders", body, {"TotalCount": str(len(matches))})


def get_order_items(ctx: Context) -> Result:
    raw = ctx.params.get("OrderId")
    if raw is None or not raw.strip():
        raise missing("OrderId")
    order_id = _positive_id(raw)
    unit = ctx.store.seller(ctx.user.seller_id)["business_unit"]
    with ctx.store.lock:
        order = ctx.store.order(order_id) if order_id else None
        if order is None or order["seller_id"] != ctx.user.seller_id:
            raise ApiError(16, f'E016: "{quoted(raw)}" Invalid Order ID')
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
    ids = [_positive_id(t) for t in texts]
    if any(i is None for i in ids):
        raise ApiError(37, "E037: One or more order id in the list are incorrect")
    unit = ctx.store.seller(ctx.user.seller_id)["business_unit"]
    orders = []
    with ctx.store.lock:
        for order_id in dict.fromkeys(ids):
            order = ctx.store.order(order_id)
            if order is None or order["seller_id"] != ctx.user.seller_id:
                continue
            items = [views.order_item(i, unit) for i in order["items"]]
            orders.append(
                {
                    "OrderId": str(order["order_id"]),
                    "OrderNumber": order["order_number"],
                    "OrderItems": {"OrderItem": items},
                }
            )
    if not orders:
        raise ApiError(39, "E039: No orders were found")
    return Result("OrderItems", {"Orders": {"Order": orders}})


def get_products(ctx: Context) -> Result:
    skus: set[str] | None = None
    raw = _param(ctx.params, "SkuSellerList")
    if raw is not None:
        try:
            listed = json.loads(raw)
        except ValueError:
            listed = None
        if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
            raise ApiError(70, "E070: You have corrupt data in your sku seller list.")
        skus = set(listed) or None
    limit, offset = _limit(ctx.params, PRODUCTS_DEFAULT_LIMIT), _offset(ctx.params)
    search = (_param(ctx.params, "Search") or "").lower()
    flt = (_param(ctx.params, "Filter") or "all").lower()
    with ctx.store.lock:
        found = [
            p
            for p in ctx.store.products_of(ctx.user.seller_id)
            if (skus is None or p["seller_sku"] in skus)
            and (not search or search in p["seller_sku"].lower() or search in p["name"].lower())
            and _filter(p, flt)
        ]
        page = [views.product(p) for p in found[offset : offset + limit]]
    return Result("Products", {"Products": {"Product": page}})


def _filter(product: dict[str, Any], name: str) -> bool:
    if name in ("live", "active"):
        return product["status"] == "active"
    if name == "inactive":
        return product["status"] != "active"
    if name == "sold-out":
        return not any(product["stock"].values())
    return True


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
    item = ctx.store.cancel(ctx.user.seller_id, item_id, raw_id, reason, detail)
    return Result("OrderItems", {"OrderItems": {"OrderItem": [views.canceled_item(item)]}})


ACTIONS: dict[str, Action] = {
    "GetOrders": Action(get_orders),
    "GetOrderItems": Action(get_order_items),
    "GetMultipleOrderItems": Action(get_multiple_order_items),
    "GetProducts": Action(get_products),
    "GetFailureReasons": Action(get_failure_reasons),
    "SetStatusToCanceled": Action(set_status_to_canceled, methods=("POST",), writes=True),
}
