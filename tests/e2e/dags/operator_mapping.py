"""A test DAG: CancelOrderItemOperator templated, expanded over batches, and expand_kwargs."""

from __future__ import annotations

from datetime import datetime

from airflow_seller_provider.compat import dag, get_current_context, task
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator


@dag(
    dag_id="operator_mapping",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"one_id": "0", "detail": "", "batches": [], "kwargs": []},
)
def operator_mapping() -> None:
    @task
    def batches() -> list:
        return get_current_context()["params"]["batches"]

    @task
    def kwargs_list() -> list:
        return get_current_context()["params"]["kwargs"]

    CancelOrderItemOperator(
        task_id="templated",
        order_item_id="{{ params.one_id }}",
        reason_detail="{{ params.detail }}",
    )
    CancelOrderItemOperator.partial(task_id="expanded", max_concurrency=2).expand(
        order_item_id=batches()
    )
    CancelOrderItemOperator.partial(task_id="expanded_kwargs").expand_kwargs(kwargs_list())


operator_mapping()
