"""Cancel the pending order items that the seller's stock cannot cover (reason SHORTAGE)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_seller_provider.compat import (
    AirflowFailException,
    Param,
    dag,
    get_current_context,
    task,
)
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
from airflow_seller_provider.payloads import FoundPayload, PlanEntry, Summary
from airflow_seller_provider.pending_scan import FRACTION_MIN_ITEMS

DOC_MD = """
### Cancel short-stock order items

Every 30 minutes: pages through the **pending** orders of the last `lookback_days` days,
fetches their items in batches (GetMultipleOrderItems), reads the stock of the SKUs involved
from the **stock source**, and decides which items are short, per business unit (each
order's own `OperatorCode`: Chile, Colombia, Peru) and SKU, oldest orders first. Items
shipped by the marketplace (Fulfillment by Falabella), unrecognised shipping types, orders
without a business unit and SKUs the source does not know are never canceled: they are
counted in the summary. The short items are canceled with reason `SHORTAGE` by
`CancelOrderItemOperator`, mapped over batches. `summarize` logs and returns the counts, and
fails the run if any item failed.

**Where stock comes from** (`stock_source`): `seller_center` (default: GetProducts' Stock,
which already excludes units reserved by pending orders, so it shows a shortage only below
zero), `sql` (`stock_conn_id` + `stock_sql`: rows `sku, units[, business_unit]` from any
Airflow database connection), a CSV/JSON file URI (`file:///...`, `s3://...`), or
`package.module:callable`. `stock_counts` says what the figures count: `on_hand` (the
default for every source but Seller Center: units in your warehouse, including those pending
orders wait for) or `sellable`.

**Needs** a `seller_center` connection (`seller_center_default`, or the
`seller_center_conn_id` param): host = base URL, login = UserID, password = API key, extras
`seller_id`, `business_unit`, ideally `rate_limit`, and `cancel_scope` (`item` or
`package`: what a cancel takes on your account).

**Run it safely:** trigger it once with `{"dry_run": true}` and read the summary (what
*would* be canceled). A safety brake stops the run before any cancellation when the short
items exceed `max_cancellations` or `max_cancel_fraction` of the pending items (a broken
stock feed would otherwise cancel everything); raise them in the run conf on purpose only.
The fraction is checked from `fraction_min_items` short items on, so that a small shop's few
legitimate cancellations are not blocked.

**Pool:** the tasks that call Seller Center (`find_short_items`, `cancel_short_items`) run in
the pool `seller_center`, which caps them across all workers: create it once, e.g.
`airflow pools set seller_center 2 "Seller Center API budget"` (a scheduler leaves tasks of
a missing pool unscheduled; `airflow dags test` ignores pools).
"""

CANCEL_TASK_ID = "cancel_short_items"
# Caps the Seller Center tasks running at once across all workers; the API budget is about
# pool slots x the connection's rate_limit (docs/deployment.md).
SELLER_CENTER_POOL = "seller_center"


@dag(
    dag_id="cancel_short_stock_items",
    schedule=timedelta(minutes=30),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["seller-center", "orders"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=15)},
    params={
        "seller_center_conn_id": Param("seller_center_default", type="string"),
        "dry_run": Param(False, type="boolean", description="Report, cancel nothing."),
        "lookback_days": Param(30, type="integer", minimum=1, maximum=365),
        "reason_detail": Param(
            "Out of stock", type=["null", "string"], maxLength=1000, description="Sent as-is."
        ),
        "batch_size": Param(100, type="integer", minimum=1, maximum=1000),
        "max_concurrency": Param(
            8,
            type="integer",
            minimum=1,
            maximum=64,
            description="Calls in flight at once, in the find step and in each cancel task; "
            "the connection's rate_limit paces them all.",
        ),
        "max_cancellations": Param(500, type="integer", minimum=0),
        "max_cancel_fraction": Param(0.5, type="number", minimum=0, maximum=1),
        "fraction_min_items": Param(FRACTION_MIN_ITEMS, type="integer", minimum=0),
        "stock_source": Param(
            "seller_center",
            type=["null", "string"],
            description="seller_center, sql, a CSV/JSON URI (file:///..., s3://...), or "
            "'package.module:callable'.",
        ),
        "stock_conn_id": Param(
            None, type=["null", "string"], description="For sql: an Airflow DB connection."
        ),
        "stock_sql": Param(
            None,
            type=["null", "string"],
            description="For sql: a query whose rows are sku, units[, business_unit].",
        ),
        "stock_counts": Param(
            None,
            type=["null", "string"],
            enum=[None, "on_hand", "sellable"],
            description="What the figures count; empty: sellable for seller_center, "
            "on_hand for the others.",
        ),
    },
)
def cancel_short_stock_items() -> None:
    # multiple_outputs=False: each payload is one XCom value, whatever its declared type.
    @task(pool=SELLER_CENTER_POOL, multiple_outputs=False)
    def find_short_items() -> FoundPayload:
        # Imported in the task so that parsing this file stays light.
        from airflow_seller_provider.hooks.seller_center import SellerCenterHook
        from airflow_seller_provider.pending_scan import find_short, found_payload
        from airflow_seller_provider.stock_sources import StockSourceError, classify_stock_source

        params = get_current_context()["params"]
        hook = SellerCenterHook(params["seller_center_conn_id"])
        source = {
            "stock_source": params.get("stock_source") or None,
            "stock_conn_id": params.get("stock_conn_id") or None,
            "stock_sql": params.get("stock_sql") or None,
        }
        try:
            # Checked before any request: a bad source must not cost an API scan.
            classify_stock_source(
                source["stock_source"],
                stock_conn_id=source["stock_conn_id"],
                stock_sql=source["stock_sql"],
            )
            result = find_short(
                hook.get_conn(),
                lookback_days=int(params["lookback_days"]),
                max_concurrency=int(params.get("max_concurrency") or 8),
                stock_counts=params.get("stock_counts") or None,
                cancel_scope=hook.cancel_scope(),
                **source,
            )
        except StockSourceError as exc:
            raise AirflowFailException(str(exc)) from None
        return found_payload(result, hook.cancel_scope())

    @task(multiple_outputs=False)
    def plan_cancellations(found: FoundPayload) -> list[PlanEntry]:
        from airflow_seller_provider.pending_scan import SafetyBrake, plan_batches

        try:
            return plan_batches(found, get_current_context()["params"])
        except SafetyBrake as stop:
            raise AirflowFailException(str(stop)) from None

    @task(trigger_rule="all_done", multiple_outputs=False)
    def summarize() -> Summary:
        from airflow_seller_provider.run_summary import build_summary

        context = get_current_context()
        ti = context["ti"]
        found = ti.xcom_pull(task_ids="find_short_items")
        plan = ti.xcom_pull(task_ids="plan_cancellations")
        outcomes = ti.xcom_pull(task_ids=CANCEL_TASK_ID, key="outcome") if plan else []
        summary, problem = build_summary(found, plan, outcomes)
        ti.xcom_push(key="summary", value=summary)
        if problem:
            raise AirflowFailException(problem)
        return summary

    found = find_short_items()
    plan = plan_cancellations(found)  # type: ignore[arg-type]  # an XComArg: the payload at run time
    cancel = CancelOrderItemOperator.partial(
        task_id=CANCEL_TASK_ID, reason="SHORTAGE", pool=SELLER_CENTER_POOL
    ).expand_kwargs(plan)
    cancel >> summarize()


cancel_short_stock_items()
