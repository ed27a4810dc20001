"""The sandbox's whole state, its indexes, and the one write the API makes (a cancellation).

State schema (JSON; every date ``YYYY-MM-DD HH:MM:SS`` in UTC)::

    {"sellers": [{"seller_id", "name", "business_unit"}],
     "users": [{"user_id", "api_key", "seller_id", "role": "admin" | "read_only"}],
     "orders": [{"order_id": int, "seller_id", "order_number", "created_at", "updated_at",
                 ...customer and address fields...,
                 "items": [{"order_item_id": int, "order_id": int, "sku", "shop_sku", "name",
                            "status", "shipping_type", "reason", "reason_detail",
                            "package_id", "item_price", "created_at", "updated_at", ...}]}],
     "products": [{"seller_id", "seller_sku", "name", "stock": {"FACL": int, ...}, ...}],
     "failure_reasons": [{"type": "canceled", "name": "..."}],
     "cancellations": {"<order_item_id>": times applied}}

A loaded state may leave out any field but the ids, ``seller_id``, ``sku`` and ``status``:
the defaults are filled in, so ``snapshot()`` always shows the whole schema.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, NamedTuple

from airflow_seller_provider.client.models import ORDER_ITEM_STATUSES
from airflow_seller_provider.sandbox.dates import now_utc, parse_any
from airflow_seller_provider.sandbox.errors import INT32_MAX, ApiError, quoted
from airflow_seller_provider.sandbox.seed import BUSINESS_UNITS, FAILURE_REASONS

ROLES = ("admin", "read_only")
SHORTAGE = "SHORTAGE"
FULFILLMENT = "fulfillment"


class User(NamedTuple):
    user_id: str
    api_key: str
    seller_id: str
    role: str


class Store:
    """Thread-safe: readers and the writer hold ``lock`` briefly; user look-ups need none
    (the user table is replaced, never changed in place)."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self._state: dict[str, Any] = {}
        self._users: dict[str, User] = {}
        self.replace(state)

    # -- whole state -------------------------------------------------------------------
    def replace(self, state: dict[str, Any]) -> None:
        """Swap in a new state (ValueError if it does not fit the schema)."""
        normalised = normalise_state(state)
        with self.lock:
            self._state = normalised
            self._reindex()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._state)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically, so a crash mid-save never leaves half a file."""
        target = Path(path)
        data = json.dumps(self.snapshot(), ensure_ascii=False, indent=1)
        fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
        return json.loads(Path(path).read_text(encoding="utf-8"))

    def _reindex(self) -> None:
        state = self._state
        self._users = {u["user_id"]: User(**u) for u in state["users"]}
        self._orders: dict[int, dict[str, Any]] = {}
        self._items: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._orders_by_seller: dict[str, list[dict[str, Any]]] = {}
        for order in state["orders"]:
            self._orders[order["order_id"]] = order
            self._orders_by_seller.setdefault(order["seller_id"], []).append(order)
            for item in order["items"]:
                self._items[item["order_item_id"]] = (order, item)
        for orders in self._orders_by_seller.values():
            orders.sort(key=lambda o: (o["created_at"], o["order_id"]))
        self._products_by_seller: dict[str, list[dict[str, Any]]] = {}
        for product in state["products"]:
            self._products_by_seller.setdefault(product["seller_id"], []).append(product)
        self._cancel_reasons = frozenset(
            [SHORTAGE] + [r["name"] for r in state["failure_reasons"] if r["type"] == "canceled"]
        )

    # -- users -------------------------------------------------------------------------
    def user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def put_user(
        self, user_id: str, api_key: str, *, role: str = "admin", seller_id: str | None = None
    ) -> User:
        """Add a user, or change an existing one's key (and role/seller when given)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        with self.lock:
            users = self._state["users"]
            existing = next((u for u in users if u["user_id"] == user_id), None)
            seller = seller_id or (existing or {}).get("seller_id") or self.main_seller_id()
            if seller not in {s["seller_id"] for s in self._state["sellers"]}:
                self._state["sellers"].append(_seller({"seller_id": seller}))
            entry = {"user_id": user_id, "api_key": api_key, "seller_id": seller, "role": role}
            if existing is None:
                users.append(entry)
            else:
                existing.update(entry)
            self._users = {u["user_id"]: User(**u) for u in users}
            return self._users[user_id]

    def main_seller_id(self) -> str:
        with self.lock:
            return self._state["sellers"][0]["seller_id"]

    def seller(self, seller_id: str) -> dict[str, Any]:
        with self.lock:
            found = next((s for s in self._state["sellers"] if s["seller_id"] == seller_id), None)
            return dict(found or _seller({"seller_id": seller_id}))

    # -- reads (call with ``lock`` held) -----------------------------------------------
    def orders_of(self, seller_id: str) -> list[dict[str, Any]]:
        """The seller's orders by creation date, then id."""
        return self._orders_by_seller.get(seller_id, [])

    def order(self, order_id: int) -> dict[str, Any] | None:
        return self._orders.get(order_id)

    def products_of(self, seller_id: str) -> list[dict[str, Any]]:
        return self._products_by_seller.get(seller_id, [])

    def failure_reasons(self) -> list[dict[str, Any]]:
        return self._state["failure_reasons"]

    def cancellation_counts(self) -> dict[int, int]:
        with self.lock:
            return {int(k): v for k, v in self._state["cancellations"].items()}

    # -- the write ---------------------------------------------------------------------
    def cancel(
        self, seller_id: str, item_id: int, raw_id: str, reason: str, detail: str
    ) -> dict[str, Any]:
        """SetStatusToCanceled's effect, checked and applied under one lock, so that two
        concurrent cancels of an item give one success and one E028."""
        with self.lock:
            found = self._items.get(item_id)
            if found is None or found[0]["seller_id"] != seller_id:
                raise ApiError(20, f'E020: "{quoted(raw_id)}" Invalid Order Item ID')
            if reason not in self._cancel_reasons:
                raise ApiError(22, f'E022: "{quoted(reason)}" Invalid Reason')
            order, item = found
            if item["status"] != "pending" or item["shipping_type"].lower() == FULFILLMENT:
                raise ApiError(
                    28, 'E028: It is not possible to set the order to the status "canceled"'
                )
            when = now_utc()
            item.update(status="canceled", reason=reason, reason_detail=detail, updated_at=when)
            order["updated_at"] = when
            counts = self._state["cancellations"]
            counts[str(item_id)] = counts.get(str(item_id), 0) + 1
            return dict(item)


# -- schema ------------------------------------------------------------------------------
def normalise_state(raw: Any) -> dict[str, Any]:
    """A deep, checked copy of ``raw`` with every default filled in (ValueError if bad)."""
    if not isinstance(raw, dict):
        raise ValueError("state must be a JSON object")
    raw = copy.deepcopy(raw)
    orders = [_order(o) for o in _list(raw, "orders")]
    products = [_product(p) for p in _list(raw, "products")]
    users = [_user(u) for u in _list(raw, "users")]
    sellers = [_seller(s) for s in _list(raw, "sellers")]
    known = {s["seller_id"] for s in sellers}
    for owner in [*(u["seller_id"] for u in users), *(o["seller_id"] for o in orders)]:
        if owner not in known:
            sellers.append(_seller({"seller_id": owner}))
            known.add(owner)
    if not sellers:
        raise ValueError("state has no seller")
    _unique([o["order_id"] for o in orders], "order_id")
    _unique([i["order_item_id"] for o in orders for i in o["items"]], "order_item_id")
    _unique([u["user_id"] for u in users], "user_id")
    _unique(
        [(p["seller_id"], p["seller_sku"]) for p in products], "product (seller_id, seller_sku)"
    )
    reasons = raw.get("failure_reasons")
    if reasons is None:
        reasons = [dict(r) for r in FAILURE_REASONS]
    if not isinstance(reasons, list) or not all(
        isinstance(r, dict) and isinstance(r.get("type"), str) and isinstance(r.get("name"), str)
        for r in reasons
    ):
        raise ValueError("failure_reasons must be a list of {type, name}")
    cancellations = raw.get("cancellations") or {}
    if not isinstance(cancellations, dict):
        raise ValueError("cancellations must be an object")
    return {
        **{k: v for k, v in raw.items() if k not in _TOP},
        "sellers": sellers,
        "users": users,
        "orders": orders,
        "products": products,
        "failure_reasons": [{"type": r["type"], "name": r["name"]} for r in reasons],
        "cancellations": {
            str(_int_id(k, "cancellations")): int(v) for k, v in cancellations.items()
        },
    }


_TOP = ("sellers", "users", "orders", "products", "failure_reasons", "cancellations")


def _list(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{key} must be a list of objects")
    return value


def _unique(values: list[Any], name: str) -> None:
    if len(values) != len(set(values)):
        raise ValueError(f"duplicate {name} in state")


def _int_id(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not an integer id") from None
    if not 0 < number <= INT32_MAX:
        raise ValueError(f"{name}: {number} is outside 1..{INT32_MAX}")
    return number


def _text(entry: dict[str, Any], key: str, default: str = "") -> str:
    value = entry.get(key)
    return default if value is None else str(value)


def _date(entry: dict[str, Any], key: str, default: str) -> str:
    value = entry.get(key)
    if value in (None, ""):
        return default
    return parse_any(str(value))


def _seller(entry: dict[str, Any]) -> dict[str, Any]:
    seller_id = _text(entry, "seller_id")
    if not seller_id:
        raise ValueError("a seller needs a seller_id")
    return {
        **entry,
        "seller_id": seller_id,
        "name": _text(entry, "name", seller_id),
        "business_unit": _text(entry, "business_unit", "FACL").upper(),
    }


def _user(entry: dict[str, Any]) -> dict[str, Any]:
    user = {k: _text(entry, k) for k in ("user_id", "api_key", "seller_id", "role")}
    user["role"] = user["role"] or "admin"
    if not user["user_id"] or not user["seller_id"] or user["role"] not in ROLES:
        raise ValueError(f"bad user {entry.get('user_id')!r}: needs user_id, seller_id, role")
    return user


def _order(entry: dict[str, Any]) -> dict[str, Any]:
    order_id = _int_id(entry.get("order_id"), "order_id")
    seller_id = _text(entry, "seller_id")
    if not seller_id:
        raise ValueError(f"order {order_id} has no seller_id")
    created = _date(entry, "created_at", now_utc())
    order = {
        **entry,
        "order_id": order_id,
        "seller_id": seller_id,
        "order_number": _text(entry, "order_number", str(order_id)),
        "created_at": created,
        "updated_at": _date(entry, "updated_at", created),
    }
    for key in ("customer_first_name", "customer_last_name", "payment_method"):
        order[key] = _text(entry, key)
    order["national_registration_number"] = _text(entry, "national_registration_number")
    order["promised_shipping_time"] = _date(entry, "promised_shipping_time", "")
    for key in ("address_billing", "address_shipping"):
        address = entry.get(key)
        order[key] = {k: str(v) for k, v in address.items()} if isinstance(address, dict) else {}
    items = entry.get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"order {order_id}: items must be a list of objects")
    order["items"] = [_item(i, order) for i in items]
    return order


def _item(entry: dict[str, Any], order: dict[str, Any]) -> dict[str, Any]:
    item_id = _int_id(entry.get("order_item_id"), "order_item_id")
    status = _text(entry, "status")
    if status not in ORDER_ITEM_STATUSES:
        raise ValueError(f"item {item_id}: unknown status {status!r}")
    sku = _text(entry, "sku")
    if not sku:
        raise ValueError(f"item {item_id} has no sku")
    created = _date(entry, "created_at", order["created_at"])
    item = {
        **entry,
        "order_item_id": item_id,
        "order_id": order["order_id"],
        "sku": sku,
        "shop_sku": _text(entry, "shop_sku", sku),
        "name": _text(entry, "name", sku),
        "status": status,
        "shipping_type": _text(entry, "shipping_type", "Dropshipping"),
        "reason": _text(entry, "reason"),
        "reason_detail": _text(entry, "reason_detail"),
        "package_id": _text(entry, "package_id"),
        "item_price": _text(entry, "item_price", "0.00"),
        "created_at": created,
        "updated_at": _date(entry, "updated_at", created),
    }
    for key in ("purchase_order_id", "purchase_order_number", "shipment_provider"):
        item[key] = _text(entry, key)
    item["tracking_code"] = _text(entry, "tracking_code")
    return item


def _product(entry: dict[str, Any]) -> dict[str, Any]:
    sku = _text(entry, "seller_sku")
    seller_id = _text(entry, "seller_id")
    if not sku or not seller_id:
        raise ValueError("a product needs seller_id and seller_sku")
    stock = entry.get("stock") or {}
    if not isinstance(stock, dict):
        raise ValueError(f"product {sku}: stock must be an object")
    try:
        levels = {str(k).upper(): int(v) for k, v in stock.items()}
    except (TypeError, ValueError):
        raise ValueError(f"product {sku}: stock levels must be integers") from None
    return {
        **entry,
        "seller_id": seller_id,
        "seller_sku": sku,
        "shop_sku": _text(entry, "shop_sku", sku),
        "name": _text(entry, "name", sku),
        "price": _text(entry, "price", "0.00"),
        "status": _text(entry, "status", "active"),
        "stock": {**{unit: 0 for unit in BUSINESS_UNITS}, **levels},
    }
