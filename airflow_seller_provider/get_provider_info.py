"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from airflow_seller_provider import __version__
from airflow_seller_provider.connection_fields import UI_FIELD_BEHAVIOUR, conn_fields


def get_provider_info() -> dict:
    return {
        # Must equal the installed distribution's name exactly, or Airflow refuses it.
        "package-name": "airflow-seller-provider",
        "name": "Seller Center",
        "description": "Seller Center marketplace API (Falabella and compatible platforms): "
        "signed calls, order item cancellation, and a local sandbox.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Seller Center",
                "external-doc-url": "https://developers.falabella.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Seller Center",
                "python-modules": ["airflow_seller_provider.hooks.seller_center"],
            }
        ],
        "operators": [
            {
                "integration-name": "Seller Center",
                "python-modules": ["airflow_seller_provider.operators.cancel_order_item"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "seller_center",
                "hook-class-name": "airflow_seller_provider.hooks.seller_center.SellerCenterHook",
                "hook-name": "Seller Center",
                "conn-fields": conn_fields(),
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
