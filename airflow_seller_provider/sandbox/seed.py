"""Seeded data: the same seed and the same start day give the same state.

Only ``random.Random(seed)`` draws values; the wall clock gives just the anchor (the start
of the current UTC day), so every order lies within the last ``DAYS`` days.

The main seller's orders are spread over its business units. In each unit, a few SKUs are
declared below what their pending seller-shipped items reserve (Seller Center's Stock goes
below zero: real shortages), a couple exactly at it (Stock 0 with pending items: sold out
but covered), one at 0 without demand, the rest with enough; a product lacks a unit here
and there. Some orders split their items over two packages; a few are Fulfillment by
Falabella (``Own Warehouse``), some ``Cross docking``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_seller_provider.sandbox.dates import format_utc

MAIN_SELLER_ID = "SBX100"
OTHER_SELLER_ID = "SBX200"
OTHER_USER_ID = "other-seller@example.com"
OTHER_API_KEY = "other-seller-api-key"
BUSINESS_UNITS = ("FACL", "FACO", "FAPE")
OWN_WAREHOUSE = "Own Warehouse"
DAYS = 20
MAIN_PRODUCTS = 30
OTHER_PRODUCTS = 8
OVERSOLD_PER_UNIT = 4
EXACT_PER_UNIT = 2
CROSS_DOCKING_SHARE = 0.2
TWO_PACKAGES_SHARE = 0.3

FAILURE_REASONS: list[dict[str, str]] = [
    {"type": "canceled", "name": "Sourcing team couldn't find items"},
    {"type": "canceled", "name": "Wrong address"},
    {"type": "canceled", "name": "Customer cancellation"},
    {"type": "failed", "name": "Delivery failed"},
    {"type": "returned", "name": "Damaged item"},
]

_NOUNS = [
    ("REL", "Reloj"),
    ("ZAP", "Zapatilla"),
    ("MOC", "Mochila"),
    ("POL", "Polera"),
    ("LAM", "Lámpara"),
    ("TAZ", "Taza"),
    ("AUD", "Audífonos"),
    ("CAR", "Cargador"),
    ("CUA", "Cuaderno"),
    ("BOL", "Bolso"),
]
_COLORS = [("NEG", "Negro"), ("AZU", "Azul"), ("ROJ", "Rojo"), ("BLA", "Blanco"), ("VER", "Verde")]
_COUNTRIES = {
    "FACL": ("Chile", ["Santiago", "Valparaíso", "Concepción"], "+56 9"),
    "FACO": ("Colombia", ["Bogotá", "Medellín", "Cali"], "+57 3"),
    "FAPE": ("Peru", ["Lima", "Arequipa", "Cusco"], "+51 9"),
}
_FIRST = ["Ana", "Luis", "María", "José", "Camila", "Diego", "Valentina", "Matías", "Sofía"]
_LAST = ["González", "Muñoz", "Rojas", "Díaz", "Pérez", "Soto", "Contreras", "Silva"]
_PAYMENTS = ["CreditCard", "DebitCard", "CashOnDelivery_Payment", "Wallet"]
_PROVIDERS = ["LOGISTICA", "Chilexpress", "Blue Express", "Starken"]
# (profile, weight): most orders are pending; "mixed" orders have one item in another status.
_PROFILES = [
    ("pending", 60),
    ("ready_to_ship", 8),
    ("shipped", 7),
    ("delivered", 10),
    ("canceled", 6),
    ("failed_delivery", 2),
    ("returned", 2),
    ("mixed", 5),
]


def seed_state(
    *,
    user_id: str,
    api_key: str,
    seed: int = 1,
    orders: int = 200,
    business_unit: str = "FACL",
    business_units: tuple[str, ...] | list[str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A whole sandbox state (see ``store.py`` for the schema). ``business_unit`` is the
    sellers' default unit, ``business_units`` those they sell in (default all three; the
    default unit is always among them)."""
    business_unit = business_unit.upper()
    chosen = [u.upper() for u in (business_units or BUSINESS_UNITS)]
    unknown = set(chosen) - set(BUSINESS_UNITS) | ({business_unit} - set(BUSINESS_UNITS))
    if unknown:
        raise ValueError(f"unknown business units {sorted(unknown)}; known: {BUSINESS_UNITS}")
    units = [u for u in BUSINESS_UNITS if u in {business_unit, *chosen}]
    rng = random.Random(seed)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    anchor = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    main_products = _products(rng, MAIN_SELLER_ID, MAIN_PRODUCTS)
    other_products = _products(rng, OTHER_SELLER_ID, OTHER_PRODUCTS, shared=main_products[:2])

    plan = [(_created(rng, anchor), MAIN_SELLER_ID) for _ in range(max(0, orders))]
    plan += [(_created(rng, anchor), OTHER_SELLER_ID) for _ in range(max(3, orders // 10))]
    plan.sort()
    by_seller = {MAIN_SELLER_ID: main_products, OTHER_SELLER_ID: other_products}
    weights = {seller: _popularity(rng, len(products)) for seller, products in by_seller.items()}
    numbers: set[str] = set()
    order_id = rng.randint(3_000_000, 4_000_000)
    item_id = rng.randint(10_000_000, 11_000_000)
    all_orders = []
    for created, seller in plan:
        order_id += rng.randint(1, 40)
        unit = rng.choice(units)
        order = _order(rng, order_id, seller, created, anchor, unit, numbers)
        skus = _basket(rng, by_seller[seller], weights[seller])
        profile = rng.choices([p for p, _ in _PROFILES], [w for _, w in _PROFILES])[0]
        if rng.random() < 0.04:
            shipping = "Fulfillment"
        elif rng.random() < CROSS_DOCKING_SHARE:
            shipping = "Cross docking"
        else:
            shipping = "Dropshipping"
        order["shipping_type"] = OWN_WAREHOUSE if shipping == "Fulfillment" else shipping
        for position, product in enumerate(skus):
            item_id += rng.randint(1, 5)
            status = _item_status(profile, position, len(skus))
            order["items"].append(
                _item(rng, item_id, order, product, status, shipping, created, anchor)
            )
        if len(skus) >= 2 and rng.random() < TWO_PACKAGES_SHARE:
            _split_packages(rng, order)
        order["updated_at"] = max(item["updated_at"] for item in order["items"])
        all_orders.append(order)

    main_orders = [o for o in all_orders if o["seller_id"] == MAIN_SELLER_ID]
    _ensure_fulfillment(rng, main_orders)
    _ensure_packages(rng, main_orders)
    _stock_main(rng, main_products, main_orders, units)
    other_orders = [o for o in all_orders if o["seller_id"] == OTHER_SELLER_ID]
    other_reserved = _reserved(other_orders)
    for product in other_products:
        sku = product["seller_sku"]
        product["quantity"] = {u: other_reserved[(u, sku)] + rng.randint(0, 60) for u in units}
    sellers = [(MAIN_SELLER_ID, "Sandbox Store"), (OTHER_SELLER_ID, "Other Store")]
    return {
        "sellers": [
            {
                "seller_id": seller_id,
                "name": name,
                "business_unit": business_unit,
                "business_units": list(units),
            }
            for seller_id, name in sellers
        ],
        "users": [
            {"user_id": user_id, "api_key": api_key, "seller_id": MAIN_SELLER_ID, "role": "admin"},
            {
                "user_id": OTHER_USER_ID,
                "api_key": OTHER_API_KEY,
                "seller_id": OTHER_SELLER_ID,
                "role": "admin",
            },
        ],
        "orders": all_orders,
        "products": main_products + other_products,
        "failure_reasons": [dict(reason) for reason in FAILURE_REASONS],
        "cancellations": {},
    }


def _created(rng: random.Random, anchor: datetime) -> datetime:
    return anchor - timedelta(seconds=rng.randint(600, DAYS * 86400))


def _products(
    rng: random.Random, seller_id: str, count: int, shared: Sequence[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """``count`` products; ``shared`` products' SKUs are reused (two sellers may share a SKU).
    A couple of SKUs carry a space or a non-ASCII letter, as real catalogues do."""
    products = []
    for index in range(count):
        code, noun = _NOUNS[rng.randrange(len(_NOUNS))]
        color_code, color = _COLORS[rng.randrange(len(_COLORS))]
        prefix = "SBX" if seller_id == MAIN_SELLER_ID else "OTR"
        sku = f"{prefix}-{code}-{color_code}-{index + 1:03d}"
        if index < len(shared):
            sku = shared[index]["seller_sku"]
        elif seller_id == MAIN_SELLER_ID and index == 7:
            sku = f"{code} {color_code}-{index + 1:03d}"
        elif seller_id == MAIN_SELLER_ID and index == 11:
            sku = f"{code}-NIÑO-{index + 1:03d}"
        products.append(
            {
                "seller_id": seller_id,
                "seller_sku": sku,
                "shop_sku": f"{code}{rng.randint(100, 999)}FA{rng.randint(10**7, 10**8 - 1)}",
                "name": f"{noun} {color} {index + 1}",
                "brand": "GENERIC",
                "category": noun,
                "price": f"{rng.randrange(4990, 199990, 10)}.00",
                "status": "active",
                "quantity": {unit: 0 for unit in BUSINESS_UNITS},
            }
        )
    return products


def _popularity(rng: random.Random, count: int) -> list[float]:
    ranks = list(range(count))
    rng.shuffle(ranks)
    return [1.0 / (rank + 1) ** 0.8 for rank in ranks]


def _basket(
    rng: random.Random, products: list[dict[str, Any]], weights: list[float]
) -> list[dict[str, Any]]:
    """1 to 4 units, one item each; consecutive units often repeat a SKU."""
    units = rng.choices([1, 2, 3, 4], [45, 28, 17, 10])[0]
    basket = [rng.choices(products, weights)[0]]
    while len(basket) < units:
        same = rng.random() < 0.5
        basket.append(basket[-1] if same else rng.choices(products, weights)[0])
    return basket


def _item_status(profile: str, position: int, count: int) -> str:
    if profile != "mixed":
        return profile
    if count == 1 or position > 0:
        return "pending"
    return "canceled"


def _order(
    rng: random.Random,
    order_id: int,
    seller: str,
    created: datetime,
    anchor: datetime,
    business_unit: str,
    numbers: set[str],
) -> dict[str, Any]:
    number = str(rng.randint(200_000_000, 999_999_999))
    while number in numbers:
        number = str(rng.randint(200_000_000, 999_999_999))
    numbers.add(number)
    country, cities, phone = _COUNTRIES.get(business_unit, _COUNTRIES["FACL"])
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    address = {
        "first_name": first,
        "last_name": last,
        "phone": f"{phone} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        "address1": f"Calle {rng.choice(_LAST)} {rng.randint(1, 9999)}",
        "city": rng.choice(cities),
        "post_code": str(rng.randint(1000000, 9999999)),
        "country": country,
    }
    promised = min(created + timedelta(days=rng.randint(1, 4)), anchor + timedelta(days=4))
    return {
        "order_id": order_id,
        "seller_id": seller,
        "order_number": number,
        "operator_code": business_unit.lower(),
        "shipping_type": "Dropshipping",
        "created_at": format_utc(created),
        "updated_at": format_utc(created),
        "customer_first_name": first,
        "customer_last_name": last,
        "payment_method": rng.choice(_PAYMENTS),
        "national_registration_number": str(rng.randint(10_000_000, 29_999_999)),
        "promised_shipping_time": format_utc(promised),
        "address_billing": address,
        "address_shipping": dict(address),
        "package_id": str(1_000_000_000_000 + order_id * 100),
        "purchase_order_id": str(rng.randint(100_000, 999_999)),
        "items": [],
    }


def _item(
    rng: random.Random,
    item_id: int,
    order: dict[str, Any],
    product: dict[str, Any],
    status: str,
    shipping: str,
    created: datetime,
    anchor: datetime,
) -> dict[str, Any]:
    if status == "pending":
        updated = created + timedelta(seconds=rng.randint(0, 600))
    else:
        updated = created + timedelta(seconds=rng.randint(3600, 3 * 86400))
    updated = min(updated, anchor)
    reason = detail = ""
    if status == "canceled":
        names = [r["name"] for r in FAILURE_REASONS if r["type"] == "canceled"]
        reason = rng.choice([*names, "SHORTAGE"])
        detail = rng.choice(["", "Customer asked to cancel", "No stock left"])
    shipped = status in ("shipped", "delivered", "failed_delivery", "returned")
    return {
        "order_item_id": item_id,
        "order_id": order["order_id"],
        "sku": product["seller_sku"],
        "shop_sku": product["shop_sku"],
        "name": product["name"],
        "status": status,
        "shipping_type": shipping,
        "reason": reason,
        "reason_detail": detail,
        "package_id": order["package_id"],
        "purchase_order_id": order["purchase_order_id"],
        "purchase_order_number": f"PO-{order['purchase_order_id']}",
        "item_price": product["price"],
        "shipment_provider": rng.choice(_PROVIDERS),
        "tracking_code": str(rng.randint(10**11, 10**12 - 1)) if shipped else "",
        "created_at": format_utc(created),
        "updated_at": format_utc(updated),
    }


def _split_packages(rng: random.Random, order: dict[str, Any]) -> None:
    """The order's later items go in a second package."""
    items = order["items"]
    second = str(int(order["package_id"]) + 1)
    for item in items[rng.randint(1, len(items) - 1) :]:
        item["package_id"] = second


def _ensure_packages(rng: random.Random, orders: list[dict[str, Any]]) -> None:
    """At least one pending order of two packages, so package-scope cancels can be seen."""

    def packages(order: dict[str, Any]) -> int:
        return len({i["package_id"] for i in order["items"]})

    pending = [
        o
        for o in orders
        if len(o["items"]) >= 3
        and o["shipping_type"] != OWN_WAREHOUSE
        and all(i["status"] == "pending" for i in o["items"])
    ]
    if pending and not any(packages(o) > 1 for o in pending):
        order = pending[rng.randrange(len(pending))]
        second = str(int(order["package_id"]) + 1)
        order["items"][-1]["package_id"] = second


def _ensure_fulfillment(rng: random.Random, orders: list[dict[str, Any]]) -> None:
    """At least three pending Fulfillment items, so E028 for them can always be seen."""
    pending = [o for o in orders if all(i["status"] == "pending" for i in o["items"])]
    rng.shuffle(pending)
    count = sum(
        1
        for o in orders
        for i in o["items"]
        if i["status"] == "pending" and i["shipping_type"] == "Fulfillment"
    )
    for order in pending:
        if count >= 3:
            break
        if order["items"][0]["shipping_type"] == "Fulfillment":
            continue
        order["shipping_type"] = OWN_WAREHOUSE
        for item in order["items"]:
            item["shipping_type"] = "Fulfillment"
            count += 1


def _reserved(orders: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """(business unit, SKU) -> units the pending seller-shipped items hold."""
    return Counter(
        (o["operator_code"].upper(), i["sku"])
        for o in orders
        for i in o["items"]
        if i["status"] == "pending" and i["shipping_type"] != "Fulfillment"
    )


def _stock_main(
    rng: random.Random,
    products: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    units: list[str],
) -> None:
    """Declared quantities per business unit from that unit's reservations: in each unit,
    ``OVERSOLD_PER_UNIT`` of the most reserved SKUs below what their pending seller-shipped
    items reserve (the first by one unit, the others by three quarters or more, so a large
    seed oversells well over a hundred items), ``EXACT_PER_UNIT`` exactly at it, one at
    zero without demand, the rest with 1 to 40 to spare; one product without items in the
    unit lacks it."""
    reserved = _reserved(orders)
    seen = {(o["operator_code"].upper(), i["sku"]) for o in orders for i in o["items"]}
    skus = [p["seller_sku"] for p in products]
    quantity: dict[str, dict[str, int]] = {sku: {} for sku in skus}
    for unit in units:
        held = {sku: reserved[(unit, sku)] for sku in skus}
        ranked = sorted((s for s in skus if held[s] >= 2), key=lambda s: (-held[s], s))
        oversold = rng.sample(ranked[:7], min(OVERSOLD_PER_UNIT, len(ranked[:7])))
        level: dict[str, int] = {}
        for position, sku in enumerate(oversold):
            level[sku] = held[sku] - 1 if position == 0 else rng.randint(0, held[sku] // 4)
        rest = [s for s in skus if s not in level]
        rng.shuffle(rest)
        for sku in [s for s in rest if held[s] >= 1][:EXACT_PER_UNIT]:
            level[sku] = held[sku]
        lacking = [s for s in rest if s not in level and (unit, s) not in seen][:1]
        for sku in [s for s in rest if s not in level and s not in lacking and not held[s]][:1]:
            level[sku] = 0
        for sku in rest:
            if sku not in lacking:
                level.setdefault(sku, held[sku] + rng.randint(1, 40))
        for sku, value in level.items():
            quantity[sku][unit] = value
    for product in products:
        sku = product["seller_sku"]
        product["quantity"] = {u: quantity[sku][u] for u in BUSINESS_UNITS if u in quantity[sku]}
