"""Cancel the pending order items that the seller's stock cannot cover (reason SHORTAGE).

The whole workflow is the provider's task group ``short_stock_cancellation``; this file
only schedules it and gives its settings a trigger form. Embed the same group in your own
DAG to run it after your own tasks (docs/workflow.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_seller_provider.compat import dag
from airflow_seller_provider.short_stock import short_stock_cancellation, short_stock_params
from airflow_seller_provider.short_stock.settings import fixed_settings_note

DOC_MD = """
### Cancel short-stock order items

Every 30 minutes, the task group `short_stock`:

1. `list_connections`: the connections to serve (`seller_center_conn_ids`, else
   `seller_center_conn_id`), checked before any request.
2. `find_short_items`, one per connection: pages through the **pending** orders of the last
   `lookback_days` days, fetches their items in batches, reads the stock of the SKUs
   involved from the **stock source**, and decides which items are short, per business unit
   (each order's own `OperatorCode`) and SKU, oldest orders first. Items shipped by the
   marketplace, unknown shipping types, orders without a business unit and SKUs the source
   does not know are never canceled: they are counted.
3. `plan_cancellations`: the **safety brake** holds a connection's cancellations when its
   short items exceed `max_cancellations`, or `max_cancel_fraction` of its pending items
   (from `fraction_min_items` short items on).
4. `cancel_short_items`: `CancelOrderItemOperator`, mapped over batches, reason `SHORTAGE`.
5. `approve_cancellations` (Airflow 3.1+, `require_approval`), one per held connection:
   with `on_brake` a tripped brake asks a person in *Required actions* with a report;
   `always` asks before every run's cancellations; `never` fails at the brake. Approve
   reads items and stock again and cancels only what is still short; Reject, or no answer
   within `approval_timeout_minutes`, cancels nothing. Runs overlap: a waiting approval
   holds only its own connection (each connection serves one run at a time).
6. `publish_cancellations`: one event on the asset `seller-center://cancellations`
   (`seller_center_cancellations_consumer` is scheduled on it).
7. `summarize`: counts per connection and business unit; fails the run if anything failed.

**Where stock comes from** (`stock_source`): `seller_center` (GetProducts' sellable Stock,
which rarely shows a shortage), `sql` (`stock_conn_id` + `stock_sql`), a CSV/JSON file URI,
or `package.module:callable`. `stock_counts`: `on_hand` or `sellable`.

**Needs** a `seller_center` connection (host, login = UserID, password = API key, extras
`seller_id`, `business_unit`, `rate_limit`, `cancel_scope`), and the pool `seller_center`
(`airflow pools set seller_center 2 "Seller Center API budget"`).

**Run it safely:** trigger it once with `{"dry_run": true}` and read the summary's report.

**What a run may change:** the trigger form's settings; the safety ones only in the safer
direction. The data sources and connections are the author's (docs/workflow.md, "Security model"):
set them in `[seller_center] short_stock_settings` or in a copy of this file.
"""


@dag(
    dag_id="cancel_short_stock_items",
    schedule=timedelta(minutes=30),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # Runs may overlap: a run whose approval waits holds up only its own connections (each
    # connection is leased to one run at a time), and the next runs serve the others.
    max_active_runs=16,
    doc_md=DOC_MD + "\n" + fixed_settings_note(),
    tags=["seller-center", "orders"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=15)},
    params=short_stock_params(),
)
def cancel_short_stock_items() -> None:
    short_stock_cancellation()


cancel_short_stock_items()
