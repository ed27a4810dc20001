"""Seller Center client: pure Python, imports nothing from Airflow.

``SellerCenterClient`` is loaded lazily so that the signing and model modules (which the
sandbox shares) do not pull in the transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_seller_provider.client.errors import SellerCenterError

if TYPE_CHECKING:
    from airflow_seller_provider.client.api import SellerCenterClient

__all__ = ["SellerCenterClient", "SellerCenterError"]


def __getattr__(name: str) -> Any:
    if name == "SellerCenterClient":
        from airflow_seller_provider.client.api import SellerCenterClient

        return SellerCenterClient
    raise AttributeError(name)
