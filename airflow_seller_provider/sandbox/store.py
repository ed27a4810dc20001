"""The sandbox's whole state, its indexes, and the writes the API makes (cancellations and
stock updates), plus the one the tests make (moving items to ``ready_to_ship``).

State schema (JSON; every date ``YYYY-MM-DD HH:MM:SS`` in UTC)::

    {"sellers": [{"seller_id", "name", "business_unit": "FACL",
                  "business_units": ["FACL", "FACO", "FAPE"]}],
     "users": [{"user_id", "api_key", "seller_id", "role": "admin" | "read_only"}],
     "orders": [{"order_id": int, "seller_id", "order_number", "created_at", "updated_at",
                 "operator_code": "facl" | "faco" | "fape",
                 "shipping_type": "Dropshipping" | "Cross docking" | "Own Warehouse",
                 ...customer and address fields...,
                 "items": [{"order_item_id": int, "order_id": int, "sku", "shop_sku", "name",
                            "status", "shipping_type", "reason", "reason_detail",
                            "package_id", "item_price", "created_at", "updated_at", ...}]}],
     "products": [{"seller_id", "seller_sku", "name", "quantity": {"FACL": int, ...}, ...}],
     "failure_reasons": [{"type": "canceled", "name": "..."}],
     "cancellations": {"<order_item_id>": times applied}}

Stock works as Seller Center's: ``quantity`` is the seller's declared warehouse figure per
business unit (seed, ``UpdateStock``); a unit missing from it means the product lacks that
business unit. Every pending item the seller ships (item ``shipping_type`` not
``Fulfillment``) reserves one unit of its order's own business unit (``operator_code``); a
cancel releases it, ``ready_to_ship`` deducts it from ``quantity``. The reported stock
(GetProducts' Stock, GetStock's Quantity) is ``quantity - reserved``, clamped at 0 unless the
store's ``negative_stock`` is ``"show"``. ``snapshot()`` shows it as a read-only ``stock``
next to ``quantity``; a loaded ``stock`` next to ``quantity`` is ignored, and an old state
whose product has only ``stock`` takes it as ``quantity``.

A loaded state may leave out any field but the ids, ``seller_id``, ``sku`` and ``status``:
the defaults are filled in, so ``snapshot()`` always shows the whole schema.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from airflow_seller_provider.client.models import ORDER_ITEM_STATUSES
from airflow_seller_provider.sandbox.dates import now_utc, parse_any
from airflow_seller_provider.sandbox.errors import INT32_MAX, ApiError, quoted
from airflow_seller_provider.sandbox.ids import facility_id, seller_warehouse_id
from airflow_seller_provider.sandbox.seed import BUSINESS_UNITS, FAILURE_REASONS

ROLES = ("admin", "read_only")
SHORTAGE = "SHORTAGE"
FULFILLMENT = "fulfillment"
SHOW, CLAMP = "show", "clamp"
NEGATIVE_STOCK = (SHOW, CLAMP)
DEFAULT_NEGATIVE_STOCK = CLAMP
"""How a stock below zero is reported unless told otherwise (the CLI, ``Store``,
``run_sandbox`` and its fixture all take it from here). The live API's behaviour is not
documented; the official PHP SDK's ``BusinessUnit`` model refuses a ``Stock`` below zero
and its factory drops such a unit, so "never negative" is the strongest evidence there is
(sandbox README, "The official PHP SDK")."""
CANCEL_SCOPES = ("item", "package")
DEFAULT_PRICE = "1000.00"
"""A loaded product's price when the state gives none: above 0, because the official PHP
SDK refuses a ``BusinessUnit`` whose ``Price`` is not (and drops the unit, as for a
negative ``Stock``; sandbox README, "The official PHP SDK")."""
OWN_WAREHOUSE = "Own Warehouse"
ORDER_SHIPPING_TYPES = ("Dropshipping", "Cross docking", OWN_WAREHOUSE)
MAX_ERROR_DETAILS = 50
_QUANTITY = re.compile(r"[0-9]{1,10}")


class User(NamedTuple):
    user_id: str
    api_key: str
    seller_id: str
    role: str


class StockEntry(NamedTuple):
    """One ``Stock`` of an UpdateStock request, as sent (None: the element was absent)."""

    seller_sku: str | None
    quantity: str | None
    facility_id: str | None = None
    seller_warehouse_id: str | None = None


def reserves(item: dict[str, Any]) -> bool:
    """A pending item the seller ships holds one unit of its order's business unit."""
    return item["status"] == "pending" and item["shipping_type"].lower() != FULFILLMENT


class Store:
    """Thread-safe: readers and the writer hold ``lock`` briefly; user look-ups need none
    (the user table is replaced, never changed in place).

    ``negative_stock``: ``"clamp"`` (the default) reports ``max(0, quantity - reserved)``,
    ``"show"`` reports ``quantity - reserved`` as is (below zero when the declared quantity
    is under the reservations).
    ``cancel_scope``: ``"item"`` cancels the one item, ``"package"`` also its pending,
    seller-shipped siblings of the same ``package_id``."""

    def __init__(
        self,
        state: dict[str, Any],
        *,
        negative_stock: str = DEFAULT_NEGATIVE_STOCK,
        cancel_scope: str = "item",
    ) -> None:
        self.lock = threading.RLock()
        self._state: dict[str, Any] = {}
        self._users: dict[str, User] = {}
        # Bumped by every write that changes orders; order queries are cached per version.
        self.orders_version = 0
        self._queries: dict[Any, tuple[int, list[dict[str, Any]]]] = {}
        self.negative_stock = negative_stock
        self.cancel_scope = cancel_scope
        self.replace(state)

    @property
    def negative_stock(self) -> str:
        return self._negative_stock

    @negative_stock.setter
    def negative_stock(self, value: str) -> None:
        if value not in NEGATIVE_STOCK:
            raise ValueError(f"negative_stock must be one of {NEGATIVE_STOCK}, not {value!r}")
        self._negative_stock = value

    @property
    def cancel_scope(self) -> str:
        return self._cancel_scope

    @cancel_scope.setter
    def cancel_scope(self, value: str) -> None:
        if value not in CANCEL_SCOPES:
            raise ValueError(f"cancel_scope must be one of {CANCEL_SCOPES}, not {value!r}")
        self._cancel_scope = value

    # -- whole state -------------------------------------------------------------------
    def replace(self, state: dict[str, Any]) -> None:
        """Swap in a new state (ValueError if it does not fit the schema)."""
        normalised = normalise_state(state)
        with self.lock:
            self._state = normalised
            self._reindex()
            self.orders_version += 1

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the state, each product with its derived, read-only ``stock``."""
        with self.lock:
            state = copy.deepcopy(self._state)
            for product in state["products"]:
                product["stock"] = self.reported_stock(product)
            return state

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
        # seller -> (business unit, SKU) -> units reserved by pending seller-shipped items
        self._reserved: dict[str, Counter[tuple[str, str]]] = {}
        for order in state["orders"]:
            self._orders[order["order_id"]] = order
            self._orders_by_seller.setdefault(order["seller_id"], []).append(order)
            for item in order["items"]:
                self._items[item["order_item_id"]] = (order, item)
                if reserves(item):
                    self._reservations(order)[_unit_sku(order, item)] += 1
        for orders in self._orders_by_seller.values():
            orders.sort(key=lambda o: (o["created_at"], o["order_id"]))
        self._products_by_seller: dict[str, list[dict[str, Any]]] = {}
        self._products: dict[tuple[str, str], dict[str, Any]] = {}
        for product in state["products"]:
            self._products_by_seller.setdefault(product["seller_id"], []).append(product)
            self._products[(product["seller_id"], product["seller_sku"])] = product
        self._cancel_reasons = frozenset(
            [SHORTAGE] + [r["name"] for r in state["failure_reasons"] if r["type"] == "canceled"]
        )

    def _reservations(self, order: dict[str, Any]) -> Counter[tuple[str, str]]:
        return self._reserved.setdefault(order["seller_id"], Counter())

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
            return copy.deepcopy(found or _seller({"seller_id": seller_id}))

    # -- reads (call with ``lock`` held) -----------------------------------------------
    def orders_of(self, seller_id: str) -> list[dict[str, Any]]:
        """The seller's orders by creation date, then id."""
        return self._orders_by_seller.get(seller_id, [])

    def query_orders(
        self, key: Any, compute: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """``compute()``'s orders, cached under ``key`` until an order changes: paging
        through a big seller filters and sorts once, not once per page (call with ``lock``
        held)."""
        cached = self._queries.get(key)
        if cached is not None and cached[0] == self.orders_version:
            return cached[1]
        if len(self._queries) >= 64:
            self._queries.clear()
        result = compute()
        self._queries[key] = (self.orders_version, result)
        return result

    def order(self, order_id: int) -> dict[str, Any] | None:
        return self._orders.get(order_id)

    def products_of(self, seller_id: str) -> list[dict[str, Any]]:
        return self._products_by_seller.get(seller_id, [])

    def reserved(self, seller_id: str, business_unit: str, sku: str) -> int:
        """Units of ``sku`` in ``business_unit`` that the seller's pending items hold."""
        with self.lock:
            return self._reserved.get(seller_id, Counter())[(business_unit.upper(), sku)]

    def reported_stock(self, product: dict[str, Any]) -> dict[str, int]:
        """What Seller Center reports per business unit the product has: the declared
        quantity less the reserved units (at least 0 when ``negative_stock`` is clamp)."""
        with self.lock:
            reserved = self._reserved.get(product["seller_id"], Counter())
            sku = product["seller_sku"]
            stock = {
                unit: quantity - reserved[(unit, sku)]
                for unit, quantity in product["quantity"].items()
            }
            if self._negative_stock == CLAMP:
                stock = {unit: max(0, value) for unit, value in stock.items()}
            return stock

    def warehouses(self, seller_id: str) -> list[dict[str, str]]:
        """The seller's warehouses: one per business unit it sells in."""
        return [
            {
                "business_unit": unit,
                "facility_id": facility_id(seller_id, unit),
                "seller_warehouse_id": seller_warehouse_id(seller_id, unit),
            }
            for unit in self.seller(seller_id)["business_units"]
        ]

    def failure_reasons(self) -> list[dict[str, Any]]:
        return self._state["failure_reasons"]

    def cancellation_counts(self) -> dict[int, int]:
        with self.lock:
            return {int(k): v for k, v in self._state["cancellations"].items()}

    # -- the writes --------------------------------------------------------------------
    def cancel(
        self, seller_id: str, item_id: int, raw_id: str, reason: str, detail: str
    ) -> list[dict[str, Any]]:
        """SetStatusToCanceled's effect, checked and applied under one lock, so that two
        concurrent cancels of an item give one success and one E028. Returns the canceled
        items, the requested one first (with ``cancel_scope`` package, its pending,
        seller-shipped siblings of the same package follow)."""
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
            targets = [item]
            if self._cancel_scope == "package" and item["package_id"]:
                targets += [
                    sibling
                    for sibling in order["items"]
                    if sibling is not item
                    and sibling["package_id"] == item["package_id"]
                    and reserves(sibling)
                ]
            when = now_utc()
            counts = self._state["cancellations"]
            reservations = self._reservations(order)
            for target in targets:
                reservations[_unit_sku(order, target)] -= 1
                target.update(
                    status="canceled", reason=reason, reason_detail=detail, updated_at=when
                )
                key = str(target["order_item_id"])
                counts[key] = counts.get(key, 0) + 1
            self.orders_version += 1
            order["updated_at"] = when
            return [dict(target) for target in targets]

    def set_ready_to_ship(self, item_ids: list[int]) -> list[dict[str, Any]]:
        """Move pending items to ``ready_to_ship`` (all or none; ValueError names the first
        item that is unknown or not pending). A seller-shipped item's unit leaves both its
        reservation and the declared ``quantity`` of its order's business unit."""
        with self.lock:
            found = []
            for item_id in dict.fromkeys(item_ids):
                pair = self._items.get(item_id)
                if pair is None:
                    raise ValueError(f"order item {item_id} does not exist")
                if pair[1]["status"] != "pending":
                    raise ValueError(
                        f"order item {item_id} is {pair[1]['status']}, not pending: only "
                        "pending items can move to ready_to_ship"
                    )
                found.append(pair)
            when = now_utc()
            for order, item in found:
                if reserves(item):
                    unit, sku = _unit_sku(order, item)
                    self._reservations(order)[(unit, sku)] -= 1
                    product = self._products.get((order["seller_id"], sku))
                    if product is not None and unit in product["quantity"]:
                        product["quantity"][unit] -= 1
                item.update(status="ready_to_ship", updated_at=when)
                order["updated_at"] = when
            self.orders_version += 1
            return [dict(item) for _, item in found]

    def place_order(self, spec: Any) -> dict[str, Any]:
        """``POST /_sandbox/orders``: a customer's order, taken as the marketplace does:
        only when every SKU's sellable stock in that business unit covers it. ``spec`` is
        ``{"business_unit", "items": [{"sku", "quantity"}], "shipping_type"?, "user_id"?}``.
        Returns ``{"order_id", "order_item_ids"}`` (one pending item per unit, each
        reserving it); raises OutOfStock (nothing created) or ValueError for a bad spec."""
        unit, wanted, shipping, user_id = _order_spec(spec)
        with self.lock:
            if user_id is None:
                seller_id = self.main_seller_id()
            else:
                user = self._users.get(user_id)
                if user is None:
                    raise ValueError(f"user_id {user_id!r} is not a user of this sandbox")
                seller_id = user.seller_id
            reserved = self._reserved.get(seller_id, Counter())
            for sku, quantity in wanted.items():
                product = self._products.get((seller_id, sku))
                if product is None or unit not in product["quantity"]:
                    raise OutOfStock(sku, f"SKU {sku!r} is not sold in {unit}")
                sellable = product["quantity"][unit] - reserved[(unit, sku)]
                # Marketplace-shipped (Own Warehouse) orders draw on Falabella's stock.
                if shipping != OWN_WAREHOUSE and sellable < quantity:
                    raise OutOfStock(
                        sku,
                        f"SKU {sku!r} is short in {unit}: {quantity} ordered, "
                        f"{max(0, sellable)} sellable",
                    )
            order_id = max(self._orders, default=0) + 1
            first_item = max(self._items, default=0) + 1
            when = now_utc()
            items: list[dict[str, Any]] = []
            for sku, quantity in wanted.items():
                product = self._products[(seller_id, sku)]
                for _ in range(quantity):
                    items.append(
                        {
                            "order_item_id": first_item + len(items),
                            "sku": sku,
                            "name": product.get("name") or sku,
                            "status": "pending",
                            "shipping_type": "Fulfillment"
                            if shipping == OWN_WAREHOUSE
                            else "Dropshipping",
                            "package_id": f"PKG-{order_id}",
                        }
                    )
            order = _order(
                {
                    "order_id": order_id,
                    "seller_id": seller_id,
                    "created_at": when,
                    "operator_code": unit.lower(),
                    "shipping_type": shipping,
                    "items": items,
                }
            )
            self._state["orders"].append(order)
            self._orders[order_id] = order
            self._orders_by_seller.setdefault(seller_id, []).append(order)
            for item in order["items"]:
                self._items[item["order_item_id"]] = (order, item)
                if reserves(item):
                    self._reservations(order)[_unit_sku(order, item)] += 1
            self.orders_version += 1
            return {"order_id": order_id, "order_item_ids": [i["order_item_id"] for i in items]}

    def update_stock(
        self, seller_id: str, entries: list[StockEntry], business_unit: str
    ) -> list[tuple[str, str, int]]:
        """UpdateStock's effect: set each entry's declared quantity, all or nothing.

        An entry without a warehouse id targets ``business_unit``; ``GSCFacilityId`` or
        ``SellerWarehouseId`` name one of the seller's warehouses (and so its unit). Any bad
        entry raises E005 whose ``details`` are ErrorDetail entries (at most 50), and nothing
        is applied. Returns ``(sku, business unit, quantity)`` as applied, in request order."""
        with self.lock:
            warehouses = self.warehouses(seller_id)
            by_facility = {w["facility_id"]: w["business_unit"] for w in warehouses}
            by_own_id = {w["seller_warehouse_id"]: w["business_unit"] for w in warehouses}
            units = {w["business_unit"] for w in warehouses}
            details: list[dict[str, str]] = []
            changes: list[tuple[str, str, int]] = []

            def fail(field: str, message: str, value: str | None, sku: str | None) -> None:
                details.append(
                    {
                        "Field": field,
                        "Message": message,
                        "Value": quoted(value or ""),
                        "SellerSku": quoted(sku or ""),
                    }
                )

            for entry in entries:
                sku = entry.seller_sku
                before = len(details)
                if not sku:
                    fail("SellerSku", "SellerSku is mandatory", sku, sku)
                elif (seller_id, sku) not in self._products:
                    fail("SellerSku", "The SellerSku does not exist", sku, sku)
                text = (entry.quantity or "").strip()
                if not _QUANTITY.fullmatch(text) or int(text) > INT32_MAX:
                    fail(
                        "Quantity",
                        f"Quantity must be a whole number from 0 to {INT32_MAX}",
                        entry.quantity,
                        sku,
                    )
                unit = business_unit.upper()
                if entry.facility_id is not None and entry.seller_warehouse_id is not None:
                    fail(
                        "GSCFacilityId",
                        "Give GSCFacilityId or SellerWarehouseId, not both",
                        entry.facility_id,
                        sku,
                    )
                elif entry.facility_id is not None:
                    unit = by_facility.get(entry.facility_id.strip(), "")
                    if not unit:
                        fail("GSCFacilityId", "Unknown warehouse", entry.facility_id, sku)
                elif entry.seller_warehouse_id is not None:
                    unit = by_own_id.get(entry.seller_warehouse_id.strip(), "")
                    if not unit:
                        fail(
                            "SellerWarehouseId", "Unknown warehouse", entry.seller_warehouse_id, sku
                        )
                elif unit not in units:
                    fail(
                        "BusinessUnit",
                        "The seller has no warehouse in this business unit",
                        unit,
                        sku,
                    )
                if len(details) == before:
                    changes.append((str(sku), unit, int(text)))
            if details:
                raise ApiError(
                    5,
                    f"E005: Invalid Request Format ({len(details)} error(s) in the Stock "
                    "entries; nothing was updated)",
                    details=details[:MAX_ERROR_DETAILS],
                )
            for sku, unit, quantity in changes:
                self._products[(seller_id, sku)]["quantity"][unit] = quantity
            return changes


def _unit_sku(order: dict[str, Any], item: dict[str, Any]) -> tuple[str, str]:
    return order["operator_code"].upper(), item["sku"]


# -- schema ------------------------------------------------------------------------------
class OutOfStock(ValueError):
    """An order the marketplace refuses: a SKU's sellable stock does not cover it."""

    def __init__(self, sku: str, message: str) -> None:
        super().__init__(message)
        self.sku = sku


_ORDER_FIELDS = {"business_unit", "items", "shipping_type", "user_id"}
_ORDER_ITEM_FIELDS = {"sku", "quantity"}
MAX_ORDER_UNITS = 100


def _order_spec(spec: Any) -> tuple[str, dict[str, int], str, str | None]:
    """(business unit, SKU -> units, shipping type, user id) of an order intake body."""
    if not isinstance(spec, dict):
        raise ValueError('body must be a JSON object: {"business_unit", "items", ...}')
    unknown = sorted(set(spec) - _ORDER_FIELDS)
    if unknown:
        raise ValueError(f"unknown fields {unknown}; allowed: {sorted(_ORDER_FIELDS)}")
    unit = spec.get("business_unit")
    if not isinstance(unit, str) or unit.upper() not in BUSINESS_UNITS:
        raise ValueError(f"business_unit must be one of {list(BUSINESS_UNITS)}, not {unit!r}")
    items = spec.get("items")
    if not isinstance(items, list) or not items:
        raise ValueError('items must be a non-empty list of {"sku": ..., "quantity": n}')
    wanted: dict[str, int] = {}
    for n, entry in enumerate(items, start=1):
        if not isinstance(entry, dict) or set(entry) - _ORDER_ITEM_FIELDS:
            raise ValueError(f"items[{n}] must be an object with sku and quantity only")
        sku, quantity = entry.get("sku"), entry.get("quantity", 1)
        if not isinstance(sku, str) or not sku.strip():
            raise ValueError(f"items[{n}].sku must be a non-empty string")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValueError(f"items[{n}].quantity must be a whole number >= 1")
        wanted[sku.strip()] = wanted.get(sku.strip(), 0) + quantity
    if sum(wanted.values()) > MAX_ORDER_UNITS:
        raise ValueError(f"an order holds at most {MAX_ORDER_UNITS} units")
    shipping = spec.get("shipping_type", "Dropshipping")
    if shipping not in ORDER_SHIPPING_TYPES:
        raise ValueError(f"shipping_type must be one of {list(ORDER_SHIPPING_TYPES)}")
    user_id = spec.get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        raise ValueError("user_id must be a string")
    return unit.upper(), wanted, shipping, user_id


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
    home = {s["seller_id"]: s["business_unit"].lower() for s in sellers}
    for order in orders:
        order["operator_code"] = order["operator_code"] or home[order["seller_id"]]
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
    unit = _text(entry, "business_unit", "FACL").upper()
    if unit not in BUSINESS_UNITS:
        raise ValueError(f"seller {seller_id}: business_unit must be one of {BUSINESS_UNITS}")
    units = entry.get("business_units")
    if units is None:
        units = list(BUSINESS_UNITS)
    if not isinstance(units, list) or not all(
        isinstance(u, str) and u.upper() in BUSINESS_UNITS for u in units
    ):
        raise ValueError(f"seller {seller_id}: business_units must be a list of {BUSINESS_UNITS}")
    units = list(dict.fromkeys([unit, *(u.upper() for u in units)]))
    return {
        **entry,
        "seller_id": seller_id,
        "name": _text(entry, "name", seller_id),
        "business_unit": unit,
        "business_units": units,
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
    code = _text(entry, "operator_code").lower()
    if code and code.upper() not in BUSINESS_UNITS:
        raise ValueError(f"order {order_id}: unknown operator_code {code!r}")
    order["operator_code"] = code  # "" is filled with the seller's business unit
    shipping = _text(entry, "shipping_type") or _order_shipping_type(order["items"])
    if shipping not in ORDER_SHIPPING_TYPES:
        raise ValueError(f"order {order_id}: shipping_type must be one of {ORDER_SHIPPING_TYPES}")
    order["shipping_type"] = shipping
    return order


def _order_shipping_type(items: list[dict[str, Any]]) -> str:
    """``Own Warehouse`` when Falabella ships (Fulfillment items), else the items' type."""
    types = [i["shipping_type"] for i in items]
    if any(t.lower() == FULFILLMENT for t in types):
        return OWN_WAREHOUSE
    return "Cross docking" if "Cross docking" in types else "Dropshipping"


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
    # The declared quantity; an old state's "stock" is taken as it, and a derived "stock"
    # next to "quantity" (what snapshot() shows) is ignored. Neither: every unit at 0.
    extra = {k: v for k, v in entry.items() if k != "stock"}
    if "quantity" in entry:
        declared = entry["quantity"]
    elif "stock" in entry:
        declared = entry["stock"]
    else:
        declared = {unit: 0 for unit in BUSINESS_UNITS}
    if declared is None:
        declared = {}
    if not isinstance(declared, dict):
        raise ValueError(f"product {sku}: quantity must be an object")
    try:
        levels = {str(k).upper(): _whole(v) for k, v in declared.items()}
    except (TypeError, ValueError):
        raise ValueError(f"product {sku}: quantities must be integers") from None
    unknown = set(levels) - set(BUSINESS_UNITS)
    if unknown:
        raise ValueError(f"product {sku}: unknown business units {sorted(unknown)}")
    return {
        **extra,
        "seller_id": seller_id,
        "seller_sku": sku,
        "shop_sku": _text(entry, "shop_sku", sku),
        "name": _text(entry, "name", sku),
        "price": _text(entry, "price", DEFAULT_PRICE),
        "status": _text(entry, "status", "active"),
        "quantity": {unit: levels[unit] for unit in BUSINESS_UNITS if unit in levels},
    }


def _whole(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)
