"""Seller Center client: pure Python, imports nothing from Airflow.

``SellerCenterClient`` is loaded lazily so that the signing and model modules (which the
sandbox shares) do not pull in the transport. The error kinds are here too, so callers
can write ``from airflow_seller_provider.client import ThrottlingError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_seller_provider.client import errors
from airflow_seller_provider.client.errors import *  # noqa: F403  (the names of errors.__all__)

if TYPE_CHECKING:
    from airflow_seller_provider.client.api import SellerCenterClient

# The error names have one home, ``errors.__all__``; the package adds its client.
__all__ = ["SellerCenterClient"]
__all__ += errors.__all__


def __getattr__(name: str) -> Any:
    if name == "SellerCenterClient":
        from airflow_seller_provider.client.api import SellerCenterClient

        return SellerCenterClient
    raise AttributeError(name)
