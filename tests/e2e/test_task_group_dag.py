"""The short-stock task group inside a seller's own DAG, end to end: their upstream task
writes the warehouse CSV, one group cancels from it, a second group serves another
connection on Seller Center's own stock, and their downstream task runs after both. Each
group cancels exactly the independent expectation (``helpers.expected_short``), on its own
sandbox, and nothing else."""

from __future__ import annotations

import json

import pytest

from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import TEST_DAGS, expected_short, newly_canceled, run_dag, save_log
from .test_stock_sources_dag import warehouse_counts, write_csv

pytestmark = pytest.mark.slow


def test_two_groups_between_a_sellers_own_tasks(airflow_db, tmp_path, monkeypatch):
    with (
        run_sandbox(seed=11, orders=150) as warehouse_sc,
        run_sandbox(seed=5, orders=120, negative_stock="show") as other_sc,
    ):
        state_a, state_b = warehouse_sc.state(), other_sc.state()
        figures, _ = warehouse_counts(state_a, warehouse_sc.user_id)
        snapshot = tmp_path / "snapshot.json"
        snapshot.write_text(
            json.dumps(
                [
                    {"sku": sku, "units": n, "business_unit": unit}
                    for (unit, sku), n in figures.items()
                ]
            )
        )
        csv_path, done = tmp_path / "stock.csv", tmp_path / "done.json"
        monkeypatch.setenv("SELLER_DAG_SNAPSHOT", str(snapshot))
        monkeypatch.setenv("SELLER_DAG_WAREHOUSE_CSV", str(csv_path))
        monkeypatch.setenv("SELLER_DAG_DONE", str(done))
        expected_a = expected_short(state_a, warehouse_sc.user_id, figures, counts="on_hand")
        expected_b = expected_short(state_b, other_sc.user_id, counts="sellable")
        assert expected_a and expected_b, "both scenarios must have shortages to find"

        code, log = run_dag(
            warehouse_sc.airflow_conn_json(),
            dag_id="seller_own_dag",
            dags_folder=TEST_DAGS,
            connections={"seller_center_other": other_sc.airflow_conn_json()},
        )
        assert code == 0, save_log(log, "seller-own-dag")
        assert csv_path.exists(), "the upstream task wrote the CSV the group read"
        assert newly_canceled(state_a, warehouse_sc.state()) == expected_a
        assert newly_canceled(state_b, other_sc.state()) == expected_b
        for sandbox, expected in ((warehouse_sc, expected_a), (other_sc, expected_b)):
            counts = sandbox.cancellation_counts()
            assert {i: counts.get(i) for i in expected} == dict.fromkeys(expected, 1)
        summaries = json.loads(done.read_text())
        warehouse, own = summaries["warehouse_cl"], summaries["seller_center_other"]
        assert warehouse["canceled"] == len(expected_a) and warehouse["failed"] == 0
        assert warehouse["stock"]["counts"] == "on_hand"
        assert own["canceled"] == len(expected_b) and own["failed"] == 0
        assert own["stock"]["counts"] == "sellable"
        assert list(own["connections"]) == ["seller_center_other"]
        assert list(warehouse["connections"]) == ["seller_center_default"]


def test_the_warehouse_load_example_cancels_from_the_snapshot(airflow_db, tmp_path, monkeypatch):
    with run_sandbox(seed=3, orders=120) as sandbox:
        state = sandbox.state()
        figures, _ = warehouse_counts(state, sandbox.user_id)
        path = tmp_path / "stock.csv"
        write_csv(path, figures)
        monkeypatch.setenv("SELLER_CENTER_WAREHOUSE_STOCK_URI", path.as_uri())
        expected = expected_short(state, sandbox.user_id, figures, counts="on_hand")
        assert expected
        code, log = run_dag(
            sandbox.airflow_conn_json(), dag_id="cancel_short_stock_on_warehouse_load"
        )
        assert code == 0, save_log(log, "warehouse-load-dag")
        assert newly_canceled(state, sandbox.state()) == expected
