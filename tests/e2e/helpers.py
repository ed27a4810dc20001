"""Helpers for the end-to-end tests: predict from sandbox state, run the DAG in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_seller_provider.shortage import PendingItem, find_short_items

from ..conftest import AIRFLOW_BIN

DAG_ID = "cancel_short_stock_items"


def main_seller_id(state: dict[str, Any], user_id: str) -> str:
    (user,) = [u for u in state["users"] if u["user_id"] == user_id]
    return user["seller_id"]


def items_by_id(state: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {item["order_item_id"]: item for order in state["orders"] for item in order["items"]}


def predict_short(state: dict[str, Any], user_id: str, business_unit: str = "FACL") -> set[int]:
    """The rule applied to the sandbox's own state: what the DAG must cancel."""
    seller = main_seller_id(state, user_id)
    items = [
        PendingItem(
            order_item_id=item["order_item_id"],
            order_id=order["order_id"],
            sku=item["sku"],
            order_created_at=datetime.fromisoformat(order["created_at"]),
            status=item["status"],
            shipping_type=item["shipping_type"],
        )
        for order in state["orders"]
        if order["seller_id"] == seller
        for item in order["items"]
    ]
    stock = {
        p["seller_sku"]: int(p["stock"].get(business_unit, 0))
        for p in state["products"]
        if p["seller_id"] == seller
    }
    return {i.order_item_id for i in find_short_items(items, stock).short}


TEST_DAGS = Path(__file__).resolve().parent / "dags"


def run_dag(
    conn_json: str,
    conf: dict[str, Any] | None = None,
    *,
    dag_id: str = DAG_ID,
    dags_folder: Path | None = None,
    timeout: float = 600,
) -> tuple[int, str]:
    """``airflow dags test`` in a fresh process (a fresh DAG object every run)."""
    env = {**os.environ, "AIRFLOW_CONN_SELLER_CENTER_DEFAULT": conn_json}
    if dags_folder is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    cmd = [AIRFLOW_BIN, "dags", "test", dag_id]
    if conf:
        cmd += ["-c", json.dumps(conf)]
    done = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.returncode, done.stdout + done.stderr


def summary_from_log(log: str) -> dict[str, int]:
    """The counts the summarize task logged (its last ``Summary:`` line)."""
    lines = re.findall(r"Summary: (pending=\d+(?: \w+=\d+)*)", log)
    assert lines, f"no summary in the log:\n{log[-4000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


def save_log(log: str, name: str) -> Path:
    path = Path(os.environ["AIRFLOW_HOME"]) / f"{name}.log"
    path.write_text(log)
    return path
