"""CancelOrderItemOperator inside a DAG run: templates, expand over batches, expand_kwargs."""

from __future__ import annotations

import pytest

from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import TEST_DAGS, items_by_id, main_seller_id, run_dag, save_log

pytestmark = pytest.mark.slow


def cancelable_items(state: dict, user_id: str) -> list[dict]:
    seller = main_seller_id(state, user_id)
    return [
        {"order_item_id": item["order_item_id"], "order_id": order["order_id"]}
        for order in state["orders"]
        if order["seller_id"] == seller
        for item in order["items"]
        if item["status"] == "pending" and item["shipping_type"] != "Fulfillment"
    ]


def test_templated_expanded_and_expand_kwargs(airflow_db):
    with run_sandbox(seed=21, orders=60) as sandbox:
        before = sandbox.state()
        picks = cancelable_items(before, sandbox.user_id)[:6]
        assert len(picks) == 6
        detail = 'line one\nline "two" & 50% + ñandú'
        conf = {
            "one_id": str(picks[0]["order_item_id"]),
            "detail": detail,
            "batches": [[picks[1]["order_item_id"], picks[2]], [str(picks[3]["order_item_id"])]],
            "kwargs": [
                {"order_item_id": picks[4], "reason_detail": "kw"},
                {"order_item_id": [picks[5]["order_item_id"]], "dry_run": True},
            ],
        }
        code, log = run_dag(
            sandbox.airflow_conn_json(), conf, dag_id="operator_mapping", dags_folder=TEST_DAGS
        )
        assert code == 0, save_log(log, "operator-mapping")
        items = items_by_id(sandbox.state())
        canceled = [p["order_item_id"] for p in picks[:5]]
        assert all(items[i]["status"] == "canceled" for i in canceled)
        assert items[picks[0]["order_item_id"]]["reason_detail"] == detail
        assert items[picks[4]["order_item_id"]]["reason_detail"] == "kw"
        assert items[picks[5]["order_item_id"]]["status"] == "pending"  # dry run
        counts = sandbox.cancellation_counts()
        assert {i: counts.get(i) for i in canceled} == dict.fromkeys(canceled, 1)
