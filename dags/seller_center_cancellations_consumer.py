"""Example consumer: runs when ``cancel_short_stock_items`` has canceled items, and reads
which (an Asset event per connection, the canceled ids in its extra).

Replace the task's body with what your business needs after a cancellation: update the ERP,
tell customer service, restock the listing. Scheduled on the asset, so it runs once for the
events a producing run emitted (Airflow queues a run when the asset is updated).
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow_seller_provider.compat import dag, get_current_context, task
from airflow_seller_provider.short_stock.events import CANCELLATIONS, CancellationEvent

log = logging.getLogger(__name__)


@dag(
    dag_id="seller_center_cancellations_consumer",
    schedule=[CANCELLATIONS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["seller-center", "orders", "example"],
    doc_md=__doc__,
)
def seller_center_cancellations_consumer() -> None:
    @task(multiple_outputs=False)
    def read_cancellations() -> dict[str, list[int]]:
        """The canceled ids per connection, from the triggering events' extras."""
        from airflow_seller_provider.short_stock.events import received

        events: list[CancellationEvent] = received(get_current_context())
        canceled: dict[str, list[int]] = {}
        for event in events:
            canceled.setdefault(event["seller_center_conn_id"], []).extend(event["canceled"])
            log.info(
                "%s: %d item(s) canceled by run %s (%d failed)",
                event["seller_center_conn_id"],
                event["canceled_count"],
                event["dag_run_id"],
                event["failed_count"],
            )
        return {conn_id: sorted(ids) for conn_id, ids in canceled.items()}

    read_cancellations()


seller_center_cancellations_consumer()
