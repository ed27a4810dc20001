"""Cancel short-stock order items as soon as a warehouse snapshot lands (data-aware).

The warehouse load (any DAG, or an external system through Airflow's REST API) updates the
asset ``WAREHOUSE_STOCK``; this DAG then runs the provider's short-stock task group on that
snapshot, read as on-hand units. Airflow 3 schedules on an Asset, 2.11 on a Dataset (the
compat module gives the right one). Point ``WAREHOUSE_STOCK_URI`` at your snapshot's file
(``file://``, ``s3://``... anything ObjectStoragePath reads); the producer's task declares
``outlets=[WAREHOUSE_STOCK]``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow_seller_provider.compat import Asset, dag
from airflow_seller_provider.short_stock import short_stock_cancellation, short_stock_params
from airflow_seller_provider.short_stock.settings import fixed_settings_note

WAREHOUSE_STOCK_URI = os.environ.get(
    "SELLER_CENTER_WAREHOUSE_STOCK_URI", "file:///var/lib/warehouse/stock.csv"
)
"""The snapshot the warehouse load writes: a CSV (sku,units[,business_unit]) or JSON."""
WAREHOUSE_STOCK = Asset(WAREHOUSE_STOCK_URI)
"""The asset the warehouse load updates when a new snapshot has landed."""

SETTINGS = {"stock_source": WAREHOUSE_STOCK_URI, "stock_counts": "on_hand"}


@dag(
    dag_id="cancel_short_stock_on_warehouse_load",
    schedule=[WAREHOUSE_STOCK],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=16,  # a waiting approval holds up only its own connections
    doc_md=f"{__doc__}\n{fixed_settings_note(**SETTINGS)}",
    tags=["seller-center", "orders", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=15)},
    params=short_stock_params(**SETTINGS),
)
def cancel_short_stock_on_warehouse_load() -> None:
    short_stock_cancellation(**SETTINGS)


cancel_short_stock_on_warehouse_load()
