"""`make demo`: the story the example DAG is for, against a seeded local sandbox.

A seller sells in Chile, Colombia and Peru. Seller Center believes every SKU has stock: the
demo declares, through UpdateStock, three units more than the pending orders reserve. But
another sales channel sold some units: the seller's warehouse (a SQLite DB the demo writes,
read through an Airflow ``sqlite`` connection) has fewer units than the pending orders need
for two SKUs per country. The DAG runs twice in a throw-away AIRFLOW_HOME: on Seller
Center's stock (it finds nothing, and says where to look), then on the warehouse (it cancels
exactly the orders the warehouse cannot serve). Prints what was canceled per country.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path

from airflow_seller_provider.client import SellerCenterClient

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
USER_ID = "demo@example.com"
API_KEY = "demo-api-key-not-a-secret"


def sandbox_state(url: str) -> dict:
    with urllib.request.urlopen(f"{url}_sandbox/state", timeout=10) as answer:
        return json.load(answer)


def pending_demand(state: dict) -> Counter[tuple[str, str]]:
    """Units the pending orders the seller ships wait for, per (country, SKU)."""
    main = next(u["seller_id"] for u in state["users"] if u["user_id"] == USER_ID)
    return Counter(
        (order["operator_code"].upper(), item["sku"])
        for order in state["orders"]
        if order["seller_id"] == main
        for item in order["items"]
        if item["status"] == "pending" and item["shipping_type"] != "Fulfillment"
    )


def declare_stock_in_seller_center(url: str, demand: Counter[tuple[str, str]]) -> None:
    """UpdateStock per country: three units more than reserved, so Stock reads 3."""
    for unit in sorted({u for u, _ in demand}):
        quantities = {sku: n + 3 for (u, sku), n in demand.items() if u == unit}
        with SellerCenterClient(
            url, USER_ID, API_KEY, seller_id="DEMO01", business_unit=unit
        ) as client:
            client.update_stock(quantities)


def write_warehouse(path: Path, demand: Counter[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """On hand: enough for most SKUs, two SKUs per country two units short."""
    on_hand = {key: n + 3 for key, n in demand.items()}
    sold_elsewhere: dict[tuple[str, str], int] = {}
    for unit in sorted({u for u, _ in demand}):
        busiest = sorted((k for k in demand if k[0] == unit and demand[k] >= 3),
                         key=lambda k: (-demand[k], k[1]))[:2]  # fmt: skip
        for key in busiest:
            on_hand[key] = demand[key] - 2
            sold_elsewhere[key] = 5
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE stock (sku TEXT, units INTEGER, business_unit TEXT)")
        db.executemany(
            "INSERT INTO stock VALUES (?, ?, ?)",
            [(sku, units, unit) for (unit, sku), units in sorted(on_hand.items())],
        )
    return sold_elsewhere


def run_dag(env: dict, home: Path, name: str, settings: dict) -> tuple[int, str]:
    """``airflow dags test`` with the deployment's short-stock ``settings`` (the stock source
    is the DAG author's, not a run's conf: docs/workflow.md, "Security model")."""
    log_path = home / f"{name}.log"
    env = {**env, "AIRFLOW__SELLER_CENTER__SHORT_STOCK_SETTINGS": json.dumps(settings)}
    with log_path.open("w") as log:
        run = subprocess.run(
            [BIN / "airflow", "dags", "test", "cancel_short_stock_items"],
            env=env, stdout=log, stderr=subprocess.STDOUT, timeout=900, check=False,
        )  # fmt: skip
    text = log_path.read_text(errors="replace")
    summary = re.findall(r"Summary: (pending=\d+(?: \w+=\d+)*)", text)
    print(f"  Summary: {summary[-1] if summary else '(not found: see the log)'}")
    print(f"  Full log: {log_path}")
    return run.returncode, text


def canceled_by_country(before: dict, after: dict) -> Counter[str]:
    was = {i["order_item_id"]: i["status"] for o in before["orders"] for i in o["items"]}
    return Counter(
        order["operator_code"].upper()
        for order in after["orders"]
        for item in order["items"]
        if item["status"] == "canceled" and was[item["order_item_id"]] != "canceled"
    )


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="seller-demo-"))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    }
    print(f"Airflow home: {home}; migrating its metadata DB...", flush=True)
    subprocess.run(
        [BIN / "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "airflow_seller_provider.sandbox", "--host", "127.0.0.1",
         "--port", "0", "--user-id", USER_ID, "--api-key", API_KEY, "--seed", "7",
         "--orders", "200", "--rate-limit", "50"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        first = sandbox.stdout.readline() if sandbox.stdout else ""
        match = re.search(r"(http://\S+/)", first)
        if not match:
            print(f"The sandbox did not start: {first!r}", file=sys.stderr)
            return 1
        url = match.group(1)
        print(first.strip(), flush=True)
        env["AIRFLOW_CONN_SELLER_CENTER_DEFAULT"] = json.dumps(
            {
                "conn_type": "seller_center",
                "host": url,
                "login": USER_ID,
                "password": API_KEY,
                "extra": {"seller_id": "DEMO01", "business_unit": "FACL", "rate_limit": 40},
            }
        )
        demand = pending_demand(sandbox_state(url))
        declare_stock_in_seller_center(url, demand)
        warehouse = home / "warehouse.db"
        sold = write_warehouse(warehouse, demand)
        env["AIRFLOW_CONN_WAREHOUSE_DB"] = json.dumps(
            {"conn_type": "sqlite", "host": str(warehouse)}
        )
        countries = len({u for u, _ in demand})
        listed = ", ".join(f"{u} {s}" for u, s in sorted(sold))
        print(
            f"Seller Center now reads Stock 3 for every SKU in {countries} countries; the "
            f"warehouse ({warehouse}) is 2 units short of the pending orders for {len(sold)} "
            f"SKUs: {listed}."
        )

        print("\n1. The DAG on Seller Center's own stock (stock_source=seller_center):", flush=True)
        before = sandbox_state(url)
        code, text = run_dag(env, home, "seller-center", {})
        if code != 0:
            print(f"airflow dags test exited {code}", file=sys.stderr)
            return code
        if "none is below zero" in text:
            print(
                "  Nothing is short there: its Stock already excludes the reserved units "
                "(and never reads below 0)."
            )

        print("\n2. The DAG on the warehouse (stock_source=sql, stock_conn_id=warehouse_db):",
              flush=True)  # fmt: skip
        settings = {
            "stock_source": "sql",
            "stock_conn_id": "warehouse_db",
            "stock_sql": "SELECT sku, units, business_unit FROM stock",
        }
        code, _ = run_dag(env, home, "warehouse", settings)
        after = sandbox_state(url)
        per_country = canceled_by_country(before, after)
        counts = ", ".join(f"{unit} {n}" for unit, n in sorted(per_country.items()))
        print(f"  Canceled per country: {counts or 'none'}")
        if code != 0:
            print(f"airflow dags test exited {code}", file=sys.stderr)
            return code
        return 0
    finally:
        sandbox.terminate()
        try:
            sandbox.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sandbox.kill()


if __name__ == "__main__":
    sys.exit(main())
