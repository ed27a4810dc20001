"""Cancel the pending order items that the seller's stock cannot cover (reason SHORTAGE)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.compat import (
    HITL_AVAILABLE,
    AirflowFailException,
    Param,
    dag,
    get_current_context,
    task,
)
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
from airflow_seller_provider.short_stock.events import OUTLETS
from airflow_seller_provider.short_stock.payloads import (
    FoundPayload,
    PlanEntry,
    Summary,
    xcom_dicts,
)
from airflow_seller_provider.short_stock.plan import (
    APPROVAL_TIMEOUT_MINUTES,
    FRACTION_MIN_ITEMS,
    MAX_CONNECTIONS,
    ON_BRAKE,
    REQUIRE_APPROVAL,
)

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

**Many sellers or countries:** `seller_center_conn_ids` (a list; empty: just
`seller_center_conn_id`). Each connection is found, planned and canceled on its own, with
its own rate budget: one connection's failure (bad key, API down, brake) stops only its
items, and the run fails at the end naming it. The summary counts per connection and per
business unit.

**Run it safely:** trigger it once with `{"dry_run": true}` and read the summary and its
Markdown report (what *would* be canceled). A safety brake holds a connection's
cancellations when its short items exceed `max_cancellations` or `max_cancel_fraction` of
its pending items (a broken stock feed would otherwise cancel everything). The fraction is
checked from `fraction_min_items` short items on, so that a small shop's few legitimate
cancellations are not blocked.

**Approval** (`require_approval`, Airflow 3.1+): with `on_brake` (default) a tripped brake
asks a person instead of failing: `approve_cancellations` waits in the UI's *Required
actions* with a report (counts per business unit, the most short SKUs, sample ids, the
stock source, the limit exceeded). Approve cancels exactly those items; Reject, or no
answer within `approval_timeout_minutes`, cancels nothing and fails the run. `always` asks
before every run's cancellations; `never` fails at the brake (Airflow 2.11 behaves so for
`on_brake`, and refuses `always`).

**Events:** `publish_cancellations` emits one event per run that canceled items on the asset
`seller-center://cancellations`; its extra lists, per connection, the canceled ids and
counts. `seller_center_cancellations_consumer` is an example DAG scheduled on it.

**Pool:** the tasks that call Seller Center (`find_short_items`, `cancel_short_items`,
`cancel_approved_items`) run in the pool `seller_center`, which caps them across all
workers and connections: create it once, e.g.
`airflow pools set seller_center 2 "Seller Center API budget"` (a scheduler leaves tasks of
a missing pool unscheduled; `airflow dags test` ignores pools).
"""

CANCEL_TASK_ID = "cancel_short_items"
APPROVAL_TASK_ID = "approve_cancellations"
APPROVED_CANCEL_TASK_ID = "cancel_approved_items"
CANCEL_TASK_IDS = (CANCEL_TASK_ID, APPROVED_CANCEL_TASK_ID) if HITL_AVAILABLE else (CANCEL_TASK_ID,)
# Caps the Seller Center tasks running at once across all workers; the API budget is about
# pool slots x the connection's rate_limit (docs/deployment.md).
SELLER_CENTER_POOL = "seller_center"


def run_connections(params: Mapping[str, Any]) -> list[str]:
    """The run's connections, checked; a bad list or mode fails the task without retries
    (the plan and summary steps run ``all_done``, so they meet it too)."""
    from airflow_seller_provider.short_stock.plan import run_connections as checked

    try:
        return checked(params, hitl_available=HITL_AVAILABLE)
    except ValueError as exc:  # ApprovalUnavailable too
        raise AirflowFailException(str(exc)) from None


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
        "seller_center_conn_ids": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "minLength": 1},
            maxItems=MAX_CONNECTIONS,
            description="Serve several connections (sellers, countries) in one run, each on "
            "its own; empty: [seller_center_conn_id].",
        ),
        "require_approval": Param(
            ON_BRAKE,
            type="string",
            enum=list(REQUIRE_APPROVAL),
            description="on_brake: when the safety brake trips, ask a person in the UI "
            "(Airflow 3.1+; fails on 2.11); always: ask before every run's cancellations; "
            "never: a tripped brake fails the run.",
        ),
        "approval_timeout_minutes": Param(
            APPROVAL_TIMEOUT_MINUTES,
            type="number",
            exclusiveMinimum=0,
            maximum=7 * 24 * 60,
            description="No answer within this time cancels nothing and fails the run.",
        ),
        "dry_run": Param(False, type="boolean", description="Report, cancel nothing."),
        "lookback_days": Param(30, type="integer", minimum=1, maximum=365),
        "reason_detail": Param(
            "Out of stock", type=["null", "string"], maxLength=1000, description="Sent as-is."
        ),
        "batch_size": Param(100, type="integer", minimum=1, maximum=1000),
        "max_concurrency": Param(
            DEFAULT_MAX_CONCURRENCY,
            type="integer",
            minimum=1,
            maximum=64,
            description="Calls in flight at once, in the find step and in each cancel task; "
            "the connection's rate_limit paces them all. With 1000-order pages, 16 lets a "
            "large seller's find step start a page's item batches at once (README).",
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
    @task(multiple_outputs=False)
    def list_connections() -> list[str]:
        # Checked before any request: a bad list or mode must not cost an API scan.
        return run_connections(get_current_context()["params"])

    @task(
        pool=SELLER_CENTER_POOL,
        multiple_outputs=False,
        map_index_template="{{ task.op_kwargs['seller_center_conn_id'] }}",
    )
    def find_short_items(seller_center_conn_id: str) -> FoundPayload:
        # Imported in the task so that parsing this file stays light.
        from airflow_seller_provider.client.errors import SellerCenterError
        from airflow_seller_provider.hooks.seller_center import SellerCenterHook
        from airflow_seller_provider.short_stock.find import find_short, found_payload
        from airflow_seller_provider.short_stock.stock_sources import (
            StockSourceError,
            classify_stock_source,
        )

        params = get_current_context()["params"]
        hook = SellerCenterHook(seller_center_conn_id)
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
                max_concurrency=int(params.get("max_concurrency") or DEFAULT_MAX_CONCURRENCY),
                stock_counts=params.get("stock_counts") or None,
                cancel_scope=hook.cancel_scope(),
                **source,
            )
        except StockSourceError as exc:
            raise AirflowFailException(str(exc)) from None
        except SellerCenterError as exc:
            if exc.retryable:
                raise
            # A bad key or a refused call: a retry would fail the same way.
            raise AirflowFailException(str(exc)) from None
        return found_payload(result, hook.cancel_scope(), seller_center_conn_id)

    @task(trigger_rule="all_done", multiple_outputs=False)
    def plan_cancellations() -> list[PlanEntry]:
        """The batches to cancel now; the rest of the RunPlan goes under its own XCom keys
        (``held``, ``connections``, ``approval``): Airflow maps only over return values."""
        # all_done: one connection's failed find step must not stop the others' plans.
        from airflow_seller_provider.metrics import record_brake_trip, record_short_items
        from airflow_seller_provider.short_stock.plan import plan_run, trips_for

        context = get_current_context()
        params = context["params"]
        founds = context["ti"].xcom_pull(task_ids="find_short_items")
        run_plan = plan_run(
            [cast("FoundPayload", f) for f in xcom_dicts(founds)],
            run_connections(params),
            params,
            hitl_available=HITL_AVAILABLE,
        )
        for found in xcom_dicts(founds):
            conn_id = found["seller_center_conn_id"]
            record_short_items(conn_id, found["short_by_unit"])
            if not params["dry_run"]:
                for trip in trips_for(cast("FoundPayload", found), params):
                    record_brake_trip(conn_id, trip.limit)
        for key in ("held", "connections", "approval"):
            context["ti"].xcom_push(key=key, value=run_plan[key])
        return run_plan["auto"]

    @task(trigger_rule="all_done", outlets=OUTLETS)
    def publish_cancellations() -> int:
        """One Asset event per run, its extra listing each connection's canceled ids."""
        from airflow_seller_provider.short_stock.events import cancellation_events, emit
        from airflow_seller_provider.short_stock.summary import pull_outcomes

        context = get_current_context()
        events = cancellation_events(
            pull_outcomes(context["ti"], CANCEL_TASK_IDS),
            dag_run_id=context["run_id"],
            default_conn_id=str(context["params"]["seller_center_conn_id"]),
        )
        return emit(context["outlet_events"], events, dag_run_id=context["run_id"])

    @task(trigger_rule="all_done", multiple_outputs=False)
    def summarize() -> Summary:
        from airflow_seller_provider.short_stock.summary import summarize_run

        context = get_current_context()
        ti = context["ti"]
        summary, problem = summarize_run(
            ti,
            run_connections(context["params"]),
            cancel_task_ids=CANCEL_TASK_IDS,
            approval_task_id=APPROVAL_TASK_ID if HITL_AVAILABLE else None,
        )
        ti.xcom_push(key="summary", value=summary)
        if problem:
            raise AirflowFailException(problem)
        return summary

    conn_ids = list_connections()
    found = find_short_items.expand(seller_center_conn_id=conn_ids)
    plan = plan_cancellations()
    found >> plan
    cancel = CancelOrderItemOperator.partial(
        task_id=CANCEL_TASK_ID, reason="SHORTAGE", pool=SELLER_CENTER_POOL
    ).expand_kwargs(plan)
    cancels = [cancel]
    if HITL_AVAILABLE:
        from airflow_seller_provider.operators.approval import CancellationApprovalOperator

        approve = CancellationApprovalOperator(
            task_id=APPROVAL_TASK_ID, plan_task_id="plan_cancellations"
        )
        approved = CancelOrderItemOperator.partial(
            task_id=APPROVED_CANCEL_TASK_ID, reason="SHORTAGE", pool=SELLER_CENTER_POOL
        ).expand_kwargs(approve.output)  # the held batches, once approved
        plan >> approve
        cancels.append(approved)
    cancels >> publish_cancellations() >> summarize()


cancel_short_stock_items()
