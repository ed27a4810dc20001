"""A test DAG shaped like a seller's own: their warehouse load, then two short-stock groups
(one on the warehouse's CSV, one on another connection and Seller Center's own stock), then
their own downstream task.

The files come from the environment, read when the file is parsed (the e2e test sets them):
``SELLER_DAG_SNAPSHOT`` (JSON rows the load task turns into the CSV),
``SELLER_DAG_WAREHOUSE_CSV`` (the CSV the first group reads), ``SELLER_DAG_DONE`` (where
the downstream task writes both groups' summaries).
"""

from __future__ import annotations

import csv
import json
import os
from datetime import datetime
from pathlib import Path

from airflow_seller_provider.compat import DAG, get_current_context, task
from airflow_seller_provider.short_stock import short_stock_cancellation

WAREHOUSE_CSV = Path(os.environ.get("SELLER_DAG_WAREHOUSE_CSV", "/nonexistent/stock.csv"))
SNAPSHOT = Path(os.environ.get("SELLER_DAG_SNAPSHOT", "/nonexistent/snapshot.json"))
DONE = Path(os.environ.get("SELLER_DAG_DONE", "/nonexistent/done.json"))
GROUPS = ("warehouse_cl", "seller_center_other")

with DAG("seller_own_dag", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def load_warehouse_snapshot() -> int:
        rows = json.loads(SNAPSHOT.read_text())
        with WAREHOUSE_CSV.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(["sku", "units", "business_unit"])
            out.writerows([row["sku"], row["units"], row["business_unit"] or ""] for row in rows)
        return len(rows)

    @task
    def after_cancellations() -> None:
        ti = get_current_context()["ti"]
        summaries = {g: ti.xcom_pull(task_ids=f"{g}.summarize", key="summary") for g in GROUPS}
        DONE.write_text(json.dumps(summaries))

    warehouse = short_stock_cancellation(
        group_id=GROUPS[0],
        stock_source=WAREHOUSE_CSV.as_uri(),
        max_cancellations=1000,
        max_cancel_fraction=1.0,
    )
    own_stock = short_stock_cancellation(
        group_id=GROUPS[1], seller_center_conn_id="seller_center_other"
    )
    load_warehouse_snapshot() >> [warehouse, own_stock] >> after_cancellations()
