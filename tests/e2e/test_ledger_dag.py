"""The ledger end to end: the example DAG with ``ledger_conn_id`` on a SQLite database of
its own, read back with plain SQL and with ``seller-center-ledger``.

What must be canceled comes from ``expected_short`` (an oracle of the rule written apart
from the project's code), from the sandbox's own data; the sandbox shows Seller Center's
figures below zero (``show``), so Seller Center's own stock is the source.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_seller_provider.compat import HITL_AVAILABLE
from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import (
    REPO,
    competing_items,
    expected_short,
    newly_canceled,
    run_dag,
    run_dag_answering,
    save_log,
)

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def ledger_conn(path: Path) -> str:
    return json.dumps({"conn_type": "sqlite", "host": str(path)})


def ledger_rows(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM seller_center_ledger")]


SETTINGS = {"ledger_conn_id": "books"}


def explain(order_item_id: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``seller-center-ledger explain`` as a person runs it, in its own process."""
    return subprocess.run(
        [str(BIN / "seller-center-ledger"), "explain", "--conn-id", "books", str(order_item_id)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def test_the_rows_are_the_items_canceled_each_once(airflow_db, tmp_path):
    books = tmp_path / "books.db"
    with run_sandbox(seed=5, orders=120, negative_stock="show") as sandbox:
        before = sandbox.state()
        expected = expected_short(before, sandbox.user_id)
        assert expected
        details = {
            it["order_item_id"]: (unit, it["sku"], order["order_id"], it["package_id"])
            for unit, order, it in competing_items(before, sandbox.user_id)
        }
        conns = {"books": ledger_conn(books)}
        code, log = run_dag(sandbox.airflow_conn_json(), connections=conns, settings=SETTINGS)
        assert code == 0, save_log(log, "ledger")
        assert newly_canceled(before, sandbox.state()) == expected
        rows = ledger_rows(books)
        assert {r["order_item_id"] for r in rows} == expected
        assert all(r["kind"] == "cancel" and r["outcome"] == "canceled" for r in rows)
        assert all(r["approval"] == "auto" for r in rows)
        (run_id,) = {r["run_id"] for r in rows}
        assert run_id in log
        for r in rows:
            unit, sku, order_id, package = details[r["order_item_id"]]
            assert (r["business_unit"], r["sku"], r["order_id"]) == (unit, sku, order_id)
            assert (r["package_id"] or "") == package
            assert r["stock_counts"] == "sellable" and r["figure"] is not None
            assert r["figure"] < 0 and r["ahead"] >= 0
            assert r["recorded_at"].endswith("Z") and r["updated_at"] >= r["recorded_at"]
        # A second run adds no duplicate (and nothing is short any more).
        code, again = run_dag(sandbox.airflow_conn_json(), connections=conns, settings=SETTINGS)
        assert code == 0, save_log(again, "ledger-again")
        assert sorted(r["order_item_id"] for r in ledger_rows(books)) == sorted(expected)

        # The console script tells one item's story, and fails for an unknown one.
        env = {**os.environ, "AIRFLOW_CONN_BOOKS": ledger_conn(books)}
        item = min(expected)
        told = explain(item, env)
        assert told.returncode == 0, told.stderr
        assert f"run {run_id}" in told.stdout and "canceled" in told.stdout
        unknown = explain(1, env)
        assert unknown.returncode == 1, unknown.stdout

        # Airflow's own housekeeping does not touch the seller's books.
        kept = ledger_rows(books)
        cleaned = subprocess.run(
            [
                str(BIN / "airflow"),
                "db",
                "clean",
                "--clean-before-timestamp",
                "2100-01-01",
                "--yes",
                "--skip-archive",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert cleaned.returncode == 0, cleaned.stderr[-2000:]
        assert ledger_rows(books) == kept


def test_a_dry_run_records_would_cancel(airflow_db, tmp_path):
    books = tmp_path / "books.db"
    with run_sandbox(seed=5, orders=120, negative_stock="show") as sandbox:
        before = sandbox.state()
        expected = expected_short(before, sandbox.user_id)
        code, log = run_dag(
            sandbox.airflow_conn_json(),
            {"dry_run": True},
            connections={"books": ledger_conn(books)},
            settings=SETTINGS,
        )
        assert code == 0, save_log(log, "ledger-dry")
        assert newly_canceled(before, sandbox.state()) == set()
        rows = ledger_rows(books)
        assert {r["order_item_id"] for r in rows} == expected
        assert {r["outcome"] for r in rows} == {"would_cancel"}


def test_a_ledger_that_is_not_a_database_fails_the_run_before_any_request(airflow_db):
    with run_sandbox(seed=5, orders=20) as sandbox:
        sandbox.clear_requests_log()
        code, log = run_dag(
            sandbox.airflow_conn_json(),
            connections={"books": sandbox.airflow_conn_json()},  # a seller_center connection
            settings=SETTINGS,
        )
        assert code != 0
        assert "ledger_conn_id 'books'" in log and "not a database hook" in log
        assert sandbox.requests_log() == []


@pytest.mark.skipif(not HITL_AVAILABLE, reason="human-in-the-loop needs Airflow 3.1+")
@pytest.mark.parametrize("answer", ["Approve", "Reject"])
def test_the_approval_is_on_record(airflow_db, tmp_path, answer):
    books = tmp_path / "books.db"
    with run_sandbox(seed=5, orders=120, negative_stock="show") as sandbox:
        before = sandbox.state()
        expected = expected_short(before, sandbox.user_id)
        code, log, seen = run_dag_answering(
            sandbox.airflow_conn_json(),
            {"max_cancellations": len(expected) - 1},
            answer,
            settings=SETTINGS,
            connections={"books": ledger_conn(books)},
        )
        rows = ledger_rows(books)
        assert {r["order_item_id"] for r in rows} == expected, save_log(log, "ledger-hitl")
        if answer == "Approve":
            assert code == 0, save_log(log, "ledger-hitl")
            assert {(r["approval"], r["responded_by"], r["outcome"]) for r in rows} == {
                ("approved", "ops-approver", "canceled")
            }
        else:
            assert code != 0
            assert newly_canceled(before, sandbox.state()) == set()
            assert {(r["approval"], r["outcome"]) for r in rows} == {("rejected", "not_sent")}
