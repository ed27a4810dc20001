"""``short_stock_cancellation``: the whole short-stock workflow as one task group.

list connections -> find the short items (one mapped task per connection) -> plan (brake,
batches, approval) -> cancel (mapped over the batches; held batches after a person's
approval, Airflow 3.1+) -> publish one Asset event -> summarize. The group composes like a
task (``refresh >> short_stock_cancellation(...) >> notify``) and can be used several times
in one DAG under different ``group_id``s: every task id and XCom read is the group's own.

The settings are checked when the DAG file is parsed; at run time a run's params and conf
may change them only as ``run_policy`` allows (the README's "Security model").
"""

from __future__ import annotations

from typing import Any, cast

from airflow_seller_provider.client.protocol import SHORTAGE
from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.compat import (
    HITL_AVAILABLE,
    AirflowFailException,
    TaskGroup,
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
from airflow_seller_provider.short_stock.settings import SettingsError, author_settings

LIST_TASK = "list_connections"
FIND_TASK = "find_short_items"
PLAN_TASK = "plan_cancellations"
CANCEL_TASK = "cancel_short_items"
APPROVAL_TASK = "approve_cancellations"
APPROVED_CANCEL_TASK = "cancel_approved_items"
PUBLISH_TASK = "publish_cancellations"
SUMMARY_TASK = "summarize"
SELLER_CENTER_POOL = "seller_center"
"""Caps the Seller Center tasks running at once across all workers; the API budget is about
pool slots x the connection's rate_limit (docs/deployment.md)."""


def _run_settings(author: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The running task's settings and connections: the author's, changed only as the run
    may change them (``run_policy``), from its params and its conf. A conf that asks for
    more, or a bad value, fails the task without retries, before any request (the plan and
    summary steps run ``all_done``, so they meet it too)."""
    from airflow_seller_provider.short_stock.plan import run_connections
    from airflow_seller_provider.short_stock.run_policy import run_settings

    context = get_current_context()
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    asked = {**dict(context["params"]), **(conf if isinstance(conf, dict) else {})}
    try:
        settings = run_settings(author, asked, hitl_available=HITL_AVAILABLE)
        return settings, run_connections(settings, hitl_available=HITL_AVAILABLE)
    except ValueError as exc:  # SettingsError, ApprovalUnavailable
        raise AirflowFailException(str(exc)) from None


def short_stock_cancellation(*, group_id: str = "short_stock", **settings: Any) -> TaskGroup:
    """The short-stock workflow as a task group in the current DAG.

    :param group_id: the group's id; task ids are ``<group_id>.<task>``.
    :param settings: the settings of ``short_stock.settings.SETTINGS`` (the example DAG's
        param names). An unknown name or a bad value raises ``SettingsError`` here, when the
        DAG file is parsed.
    """
    try:
        author = author_settings(settings, hitl_available=HITL_AVAILABLE)
    except SettingsError as exc:
        raise SettingsError(f"short_stock_cancellation(group_id={group_id!r}): {exc}") from None
    with TaskGroup(group_id=group_id, tooltip="Cancel short-stock order items") as group:
        _build(group, author)
    return group


def _build(group: TaskGroup, author: dict[str, Any]) -> None:
    ids = {name: group.child_id(name) for name in (FIND_TASK, PLAN_TASK, APPROVAL_TASK)}
    cancel_ids = [group.child_id(CANCEL_TASK)]
    if HITL_AVAILABLE:
        cancel_ids.append(group.child_id(APPROVED_CANCEL_TASK))
    group_id = str(group.group_id)

    # multiple_outputs=False: each payload is one XCom value, whatever its declared type.
    @task(task_id=LIST_TASK, multiple_outputs=False)
    def list_connections() -> list[str]:
        # Checked before any request: a bad list or mode must not cost an API scan.
        return _run_settings(author)[1]

    @task(
        task_id=FIND_TASK,
        pool=SELLER_CENTER_POOL,
        multiple_outputs=False,
        map_index_template="{{ task.op_kwargs['seller_center_conn_id'] }}",
    )
    def find_short_items(seller_center_conn_id: str) -> FoundPayload:
        # Imported in the task so that parsing a DAG file stays light.
        from airflow_seller_provider.client.errors import SellerCenterError
        from airflow_seller_provider.hooks.seller_center import SellerCenterHook
        from airflow_seller_provider.short_stock.find import find_short, found_payload
        from airflow_seller_provider.short_stock.stock_sources import StockSourceError

        settings = _run_settings(author)[0]
        hook = SellerCenterHook(seller_center_conn_id)
        try:
            result = find_short(
                hook.get_conn(),
                lookback_days=int(settings["lookback_days"]),
                max_concurrency=int(settings["max_concurrency"] or DEFAULT_MAX_CONCURRENCY),
                stock_counts=settings["stock_counts"] or None,
                cancel_scope=hook.cancel_scope(),
                stock_source=settings["stock_source"] or None,
                stock_conn_id=settings["stock_conn_id"] or None,
                stock_sql=settings["stock_sql"] or None,
            )
        except StockSourceError as exc:
            raise AirflowFailException(str(exc)) from None
        except SellerCenterError as exc:
            if exc.retryable:
                raise
            # A bad key or a refused call: a retry would fail the same way.
            raise AirflowFailException(str(exc)) from None
        return found_payload(result, hook.cancel_scope(), seller_center_conn_id)

    @task(task_id=PLAN_TASK, trigger_rule="all_done", multiple_outputs=False)
    def plan_cancellations() -> list[PlanEntry]:
        """The batches to cancel now; the rest of the RunPlan goes under its own XCom keys
        (``held``, ``connections``, ``approval``): Airflow maps only over return values."""
        # all_done: one connection's failed find step must not stop the others' plans.
        from airflow_seller_provider.metrics import record_brake_trip, record_short_items
        from airflow_seller_provider.short_stock.plan import plan_run, trips_for

        context = get_current_context()
        settings, conn_ids = _run_settings(author)
        pulled = context["ti"].xcom_pull(task_ids=ids[FIND_TASK])
        founds = [cast("FoundPayload", f) for f in xcom_dicts(pulled)]
        run_plan = plan_run(
            founds,
            conn_ids,
            settings,
            hitl_available=HITL_AVAILABLE,
            find_task_id=ids[FIND_TASK],
        )
        for found in founds:
            conn_id = found["seller_center_conn_id"]
            record_short_items(conn_id, found["short_by_unit"])
            if not settings["dry_run"]:
                for trip in trips_for(found, settings):
                    record_brake_trip(conn_id, trip.limit)
        for key in ("held", "connections", "approval"):
            context["ti"].xcom_push(key=key, value=run_plan[key])
        return run_plan["auto"]

    @task(task_id=PUBLISH_TASK, trigger_rule="all_done", outlets=OUTLETS)
    def publish_cancellations() -> int:
        """One Asset event per run and group, its extra listing each connection's ids."""
        from airflow_seller_provider.short_stock.events import cancellation_events, emit
        from airflow_seller_provider.short_stock.summary import pull_outcomes

        context = get_current_context()
        settings = _run_settings(author)[0]
        events = cancellation_events(
            pull_outcomes(context["ti"], cancel_ids),
            dag_run_id=context["run_id"],
            default_conn_id=str(settings["seller_center_conn_id"]),
        )
        return emit(
            context["outlet_events"], events, dag_run_id=context["run_id"], group_id=group_id
        )

    @task(task_id=SUMMARY_TASK, trigger_rule="all_done", multiple_outputs=False)
    def summarize() -> Summary:
        from airflow_seller_provider.short_stock.summary import summarize_run

        context = get_current_context()
        ti = context["ti"]
        summary, problem = summarize_run(
            ti,
            _run_settings(author)[1],
            cancel_task_ids=cancel_ids,
            approval_task_id=ids[APPROVAL_TASK] if HITL_AVAILABLE else None,
            plan_task_id=ids[PLAN_TASK],
            find_task_id=ids[FIND_TASK],
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
        task_id=CANCEL_TASK, reason=SHORTAGE, pool=SELLER_CENTER_POOL
    ).expand_kwargs(plan)
    cancels = [cancel]
    if HITL_AVAILABLE:
        from airflow_seller_provider.operators.approval import CancellationApprovalOperator

        approve = CancellationApprovalOperator(task_id=APPROVAL_TASK, plan_task_id=ids[PLAN_TASK])
        approved = CancelOrderItemOperator.partial(
            task_id=APPROVED_CANCEL_TASK, reason=SHORTAGE, pool=SELLER_CENTER_POOL
        ).expand_kwargs(approve.output)  # the held batches, once approved
        plan >> approve
        cancels.append(approved)
    cancels >> publish_cancellations() >> summarize()
