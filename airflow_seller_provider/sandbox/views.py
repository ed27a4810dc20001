"""State records as the API's elements, in the field order of the real samples.

Body dates are shown in the order's country's local time without an offset (see
``dates.local_text``); ``OperatorCode`` (lower case) and ``ShippingType`` close an Order, as
``ShippingType`` closes it in the samples.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from airflow_seller_provider.client.models import ORDER_ITEM_STATUSES
from airflow_seller_provider.sandbox.dates import local_text
from airflow_seller_provider.sandbox.ids import facility_id, seller_warehouse_id

_BUSINESS_UNIT_NAMES = {"FACL": "Falabella", "FACO": "Falabella", "FAPE": "Falabella"}
_CURRENCIES = {"FACL": "CLP", "FACO": "COP", "FAPE": "PEN"}
_STATUS_RANK = {status: rank for rank, status in enumerate(ORDER_ITEM_STATUSES)}


def statuses(order: dict[str, Any]) -> list[str]:
    """The order's ``Statuses``: its items' distinct statuses, in the canonical order."""
    found = {item["status"] for item in order["items"]}
    return sorted(found, key=lambda s: (_STATUS_RANK.get(s, len(_STATUS_RANK)), s))


def _money(value: str) -> Decimal:
    try:
        return Decimal(value or "0")
    except InvalidOperation:
        return Decimal(0)


def _address(address: dict[str, str]) -> dict[str, Any]:
    get = address.get
    return {
        "FirstName": get("first_name", ""),
        "LastName": get("last_name", ""),
        "Phone": get("phone", ""),
        "Phone2": "",
        "Address1": get("address1", ""),
        "Address2": "",
        "Address3": "",
        "Address4": "",
        "Address5": "",
        "CustomerEmail": "",
        "City": get("city", ""),
        "Ward": "",
        "Region": "",
        "PostCode": get("post_code", ""),
        "Country": get("country", ""),
    }


def unit_of(order: dict[str, Any]) -> str:
    """The order's business unit (``FACL``), from its operator code (``facl``)."""
    return order["operator_code"].upper()


def order(order: dict[str, Any]) -> dict[str, Any]:
    items = order["items"]
    unit = unit_of(order)
    price = sum((_money(i["item_price"]) for i in items), Decimal(0))
    return {
        "OrderId": str(order["order_id"]),
        "CustomerFirstName": order["customer_first_name"],
        "CustomerLastName": order["customer_last_name"],
        "OrderNumber": order["order_number"],
        "PaymentMethod": order["payment_method"],
        "Remarks": None,
        "DeliveryInfo": None,
        "Price": f"{price:.2f}",
        "GiftOption": "0",
        "GiftMessage": None,
        "VoucherCode": None,
        "CreatedAt": local_text(order["created_at"], unit),
        "UpdatedAt": local_text(order["updated_at"], unit),
        "AddressUpdatedAt": local_text(order["created_at"], unit),
        "AddressBilling": _address(order["address_billing"]),
        "AddressShipping": _address(order["address_shipping"]),
        "NationalRegistrationNumber": order["national_registration_number"],
        "ItemsCount": str(len(items)),
        "PromisedShippingTime": local_text(order["promised_shipping_time"], unit),
        "ExtraAttributes": None,
        "Statuses": {"Status": statuses(order)},
        "InvoiceRequired": "false",
        "OperatorCode": order["operator_code"],
        "ShippingType": order["shipping_type"],
    }


def order_with_items(order: dict[str, Any]) -> dict[str, Any]:
    """An Order of GetMultipleOrderItems."""
    unit = unit_of(order)
    return {
        "OrderId": str(order["order_id"]),
        "OrderNumber": order["order_number"],
        "OperatorCode": order["operator_code"],
        "ShippingType": order["shipping_type"],
        "OrderItems": {"OrderItem": [order_item(i, unit) for i in order["items"]]},
    }


def order_item(item: dict[str, Any], business_unit: str = "FACL") -> dict[str, Any]:
    """``business_unit``: the item's order's (its currency and its dates' time zone)."""
    status = item["status"]
    return {
        "OrderItemId": str(item["order_item_id"]),
        "ShopId": str(item["order_item_id"] + 400_000),
        "OrderId": str(item["order_id"]),
        "Name": item["name"],
        "Sku": item["sku"],
        "Variation": "Talla Única",
        "ShopSku": item["shop_sku"],
        "ShippingType": item["shipping_type"],
        "ItemPrice": item["item_price"],
        "PaidPrice": item["item_price"],
        "Currency": _CURRENCIES.get(business_unit, "CLP"),
        "WalletCredits": "0.00",
        "TaxAmount": "0.00",
        "CodCollectableAmount": None,
        "ShippingAmount": "0.00",
        "ShippingServiceCost": "0.00",
        "VoucherAmount": "0",
        "VoucherCode": None,
        "Status": status,
        "IsProcessable": "1" if status == "pending" else "0",
        "ShipmentProvider": item["shipment_provider"],
        "IsDigital": "0",
        "DigitalDeliveryInfo": None,
        "TrackingCode": item["tracking_code"],
        "TrackingCodePre": None,
        "Reason": item["reason"],
        "ReasonDetail": item["reason_detail"],
        "PurchaseOrderId": item["purchase_order_id"] or "0",
        "PurchaseOrderNumber": item["purchase_order_number"],
        "PackageId": item["package_id"],
        "PromisedShippingTime": None,
        "ExtraAttributes": None,
        "ShippingProviderType": "standard",
        "CreatedAt": local_text(item["created_at"], business_unit),
        "UpdatedAt": local_text(item["updated_at"], business_unit),
        "ReturnStatus": None,
    }


def canceled_item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "OrderItemId": str(item["order_item_id"]),
        "PurchaseOrderId": item["purchase_order_id"] or "0",
        "PurchaseOrderNumber": item["purchase_order_number"],
        "PackageId": item["package_id"],
    }


def product(product: dict[str, Any], stock: dict[str, int]) -> dict[str, Any]:
    """``stock``: the reported stock per business unit the product has."""
    sku = product["seller_sku"]
    units = [
        {
            "BusinessUnit": _BUSINESS_UNIT_NAMES.get(unit, "Falabella"),
            "OperatorCode": unit.lower(),
            "Price": product["price"],
            "SpecialPrice": None,
            "SpecialFromDate": None,
            "SpecialToDate": None,
            "Stock": str(level),
            "Status": product["status"],
            "IsPublished": "1" if product["status"] == "active" else "0",
        }
        for unit, level in stock.items()
    ]
    return {
        "SellerSku": sku,
        "ShopSku": product["shop_sku"],
        "ProductSin": None,
        "Name": product["name"],
        "Variation": None,
        "ParentSku": sku,
        "BusinessUnits": {"BusinessUnit": units},
        "ProductId": sku,
        "Url": None,
        "MainImage": None,
        # Percent-encoded: the official PHP SDK drops a product whose image is not a valid URL.
        "Images": {
            "Image": [f"https://static.sandbox.invalid/p/{quote(product['shop_sku'], safe='')}.jpg"]
        },
        "Description": product.get("description") or product["name"],
        "TaxClass": "IVA 19%",
        "Brand": product.get("brand") or "GENERIC",
        "PrimaryCategory": product.get("category") or "",
        "QCStatus": "approved",
        "Categories": product.get("category") or "",
        "ProductData": {
            "ConditionType": "Nuevo",
            "PackageWidth": "10",
            "PackageLength": "10",
            "PackageHeight": "10",
            "PackageWeight": "1",
            "ShortDescription": product["name"],
        },
    }


def stock_product(product: dict[str, Any], stock: dict[str, int]) -> dict[str, Any]:
    """A Product of GetStock: one Warehouse (the sandbox's one per business unit) per
    business unit the product has."""
    seller = product["seller_id"]
    return {
        "SellerSku": product["seller_sku"],
        "Warehouses": {
            "Warehouse": [
                {
                    "FacilityId": facility_id(seller, unit),
                    "SellerWarehouseId": seller_warehouse_id(seller, unit),
                    "OperatorCode": unit.lower(),
                    "Quantity": str(level),
                }
                for unit, level in stock.items()
            ]
        },
    }


def reason(entry: dict[str, Any]) -> dict[str, Any]:
    return {"Type": entry["type"], "Name": entry["name"]}
