"""The ids of the sandbox's warehouses: one per seller and business unit.

Seller Center names a warehouse by its Falabella facility id (``GSCFacilityId``, GetStock's
``FacilityId``) and by the seller's own id for it (``SellerWarehouseId``).
"""

from __future__ import annotations


def facility_id(seller_id: str, business_unit: str) -> str:
    """``GSC-FACL-SBX100``."""
    return f"GSC-{business_unit.upper()}-{seller_id}"


def seller_warehouse_id(seller_id: str, business_unit: str) -> str:
    """``SBX100-FACL-WH``."""
    return f"{seller_id}-{business_unit.upper()}-WH"
