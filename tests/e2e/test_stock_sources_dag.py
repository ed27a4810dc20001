"""The example DAG on each stock source, countries and package scope, end to end.

Each test works out what must be canceled from the sandbox's own data (``expected_short``,
written independently of the project's rule), runs the DAG with ``airflow dags test``,
checks that exactly those items were canceled, once, and that a second run cancels nothing.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import (
    SELLER_SHIPS,
    declared_less_reserved,
    expected_short,
    main_seller_id,
    newly_canceled,
    run_dag,
    save_log,
    summary_from_log,
)

pytestmark = pytest.mark.slow


def warehouse_counts(state: dict, user_id: str) -> tuple[dict[tuple[str | None, str], int], str]:
    """A warehouse that has fewer units than the pending orders need for a few SKUs in each
    country (another channel sold them), exactly enough or more for the rest, one SKU it
    does not know, and one SKU counted for every country at once. Returns the figures and
    the SKU left out."""
    seller = main_seller_id(state, user_id)
    demand: Counter[tuple[str, str]] = Counter()
    for order in state["orders"]:
        if order["seller_id"] != seller:
            continue
        for item in order["items"]:
            if item["status"] == "pending" and item["shipping_type"].lower() in SELLER_SHIPS:
                demand[(order["operator_code"].upper(), item["sku"])] += 1
    figures: dict[tuple[str | None, str], int] = {}
    short_per_unit: Counter[str] = Counter()
    for (unit, sku), need in sorted(demand.items(), key=lambda kv: (-kv[1], kv[0])):
        if need >= 2 and short_per_unit[unit] < 2:
            figures[(unit, sku)] = need - 1 - short_per_unit[unit]
            short_per_unit[unit] += 1
        else:
            figures[(unit, sku)] = need + (len(sku) % 2)
    skus = sorted({sku for _, sku in demand})
    left_out, shared = skus[0], skus[-1]
    for key in [k for k in figures if k[1] in (left_out, shared)]:
        del figures[key]
    figures[(None, shared)] = max(n for (_, sku), n in demand.items() if sku == shared)
    return figures, left_out


def write_sqlite(path: Path, figures: dict[tuple[str | None, str], int]) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE warehouse_stock (sku TEXT, units INTEGER, business_unit TEXT)")
        db.executemany(
            "INSERT INTO warehouse_stock VALUES (?, ?, ?)",
            [(sku, units, unit) for (unit, sku), units in figures.items()],
        )


def write_csv(path: Path, figures: dict[tuple[str | None, str], int]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["sku", "units", "business_unit"])
        for (unit, sku), units in figures.items():
            out.writerow([sku, units, unit or ""])


def run_twice_and_check(sandbox, settings: dict, expected: set[int], name: str, extra=None):
    """Two runs with the deployment's ``settings`` (the stock source is the author's)."""
    before = sandbox.state()
    assert expected, "the scenario must have shortages to find"
    code, log = run_dag(sandbox.airflow_conn_json(extra), settings=settings)
    assert code == 0, save_log(log, name)
    after = sandbox.state()
    assert newly_canceled(before, after) == expected, save_log(log, name)
    counts = sandbox.cancellation_counts()
    assert {i: counts.get(i) for i in expected} == dict.fromkeys(expected, 1)
    summary = summary_from_log(log)
    assert summary["canceled"] == len(expected) and summary["failed"] == 0
    by_unit = Counter(
        o["operator_code"].upper()
        for o in after["orders"]
        for i in o["items"]
        if i["order_item_id"] in expected
    )
    assert {k[len("short_") :]: v for k, v in summary.items() if k.startswith("short_")} == dict(
        by_unit
    )
    code, again = run_dag(sandbox.airflow_conn_json(extra), settings=settings)
    assert code == 0, save_log(again, f"{name}-again")
    assert sandbox.state()["orders"] == after["orders"]
    assert summary_from_log(again)["canceled"] == 0
    return summary, log


def test_sqlite_warehouse_through_an_airflow_connection(airflow_db, tmp_path, monkeypatch):
    with run_sandbox(seed=3, orders=150) as sandbox:
        state = sandbox.state()
        figures, left_out = warehouse_counts(state, sandbox.user_id)
        database = tmp_path / "warehouse.db"
        write_sqlite(database, figures)
        monkeypatch.setenv(
            "AIRFLOW_CONN_WAREHOUSE_DB", json.dumps({"conn_type": "sqlite", "host": str(database)})
        )
        expected = expected_short(state, sandbox.user_id, figures, counts="on_hand")
        assert len({unit for unit, _ in figures if unit}) == 3
        settings = {
            "stock_source": "sql",
            "stock_conn_id": "warehouse_db",
            "stock_sql": "SELECT sku, units, business_unit FROM warehouse_stock",
        }
        summary, _ = run_twice_and_check(sandbox, settings, expected, "dag-sqlite")
        assert summary["unknown_stock"] > 0  # the SKU the warehouse does not list
        assert len([k for k in summary if k.startswith("short_")]) >= 2  # several countries


def test_csv_file_through_object_storage(airflow_db, tmp_path):
    with run_sandbox(seed=11, orders=150) as sandbox:
        state = sandbox.state()
        figures, _ = warehouse_counts(state, sandbox.user_id)
        path = tmp_path / "stock.csv"
        write_csv(path, figures)
        expected = expected_short(state, sandbox.user_id, figures, counts="on_hand")
        run_twice_and_check(sandbox, {"stock_source": path.as_uri()}, expected, "dag-csv")


def test_package_scope(airflow_db):
    # Seller Center's own stock, below zero where oversold ("show": the default clamps).
    with run_sandbox(seed=7, orders=150, cancel_scope="package", negative_stock="show") as sandbox:
        state = sandbox.state()
        expected = expected_short(state, sandbox.user_id, scope="package")
        run_twice_and_check(sandbox, {}, expected, "dag-package", extra={"cancel_scope": "package"})


def test_clamped_seller_center_stock_cancels_nothing_and_says_where_to_look(airflow_db):
    # The default sandbox clamps (as the official SDK expects): SKUs oversold in Seller
    # Center read 0, never below, so its own stock shows no shortage, and the run says why.
    with run_sandbox(seed=3, orders=120) as sandbox:
        before = sandbox.state()
        assert min(declared_less_reserved(before, sandbox.user_id).values()) < 0, "oversold"
        assert expected_short(before, sandbox.user_id, counts="sellable") == set()
        code, log = run_dag(sandbox.airflow_conn_json())
        assert code == 0, save_log(log, "dag-clamp")
        assert sandbox.state()["orders"] == before["orders"]
        assert summary_from_log(log)["short"] == 0
        assert "none is below zero" in log and "stock_source='sql'" in log


def test_a_bad_warehouse_row_cancels_nothing(airflow_db, tmp_path):
    with run_sandbox(seed=3, orders=60) as sandbox:
        path = tmp_path / "stock.csv"
        path.write_text("sku,units,business_unit\nSBX-1,3,FACL\nSBX-2,-4,FACO\n")
        before = sandbox.state()
        code, log = run_dag(sandbox.airflow_conn_json(), settings={"stock_source": path.as_uri()})
        assert code != 0
        assert "line 3: field units" in log
        assert "SBX-2,-4" not in log and "'-4'" not in log  # no row contents in the log
        assert sandbox.state()["orders"] == before["orders"]
