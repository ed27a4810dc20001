"""``short_stock_cancellation``: the whole short-stock workflow as one task group.

list connections -> find the short items (one mapped task per connection) -> plan (brake,
batches, approval) -> cancel (mapped over the batches; held batches after a person's
approval, Airflow 3.1+) -> publish one Asset event -> summarize. The group composes like a
task (``refresh >> short_stock_cancellation(...) >> notify``) and can be used several times
in one DAG under different ``group_id``s: every task id and XCom read is the group's own.

The settings are checked when the DAG file is parsed; at run time a run's params and conf
may change them only as ``run_policy`` allows (docs/workflow.md, "Security model").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

from airflow_seller_provider.client.protocol import SHORTAGE
from airflow_seller_provider.compat import (
    HITL_AVAILABLE,
    AirflowException,
    AirflowFailException,
    TaskGroup,
    get_current_context,
    task,
)
from airflow_seller_provider.ledger.table import AUTO
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
from airflow_seller_provider.short_stock.events import OUTLETS
from airflow_seller_provider.short_stock.payloads import (
    FoundPayload,
    PlanEntry,
    Summary,
    xcom_dicts,
)
from airflow_seller_provider.short_stock.settings import SettingsError, author_settings
from airflow_seller_provider.short_stock.steps import (
    correct_for,
    find_for,
    ledger_for,
    task_settings,
)
from airflow_seller_provider.short_stock.stock_correction import CORRECT_LOWER

log = logging.getLogger(__name__)

LIST_TASK = "list_connections"
FIND_TASK = "find_short_items"
PLAN_TASK = "plan_cancellations"
CANCEL_TASK = "cancel_short_items"
APPROVAL_TASK = "approve_cancellations"
HELD_TASK = "held_connections"
RELEASE_TASK = "release_connections"
PUBLISH_TASK = "publish_cancellations"
SUMMARY_TASK = "summarize"
CORRECT_TASK = "correct_stock"
RECHECK_TASK = "recheck_stock"
SELLER_CENTER_POOL = "seller_center"
"""Caps the Seller Center tasks running at once across all workers; the API budget is about
pool slots x the connection's rate_limit (docs/deployment.md)."""


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
    ids = {name: group.child_id(name) for name in (LIST_TASK, FIND_TASK, PLAN_TASK, APPROVAL_TASK)}
    cancel_ids = [group.child_id(CANCEL_TASK)]
    if HITL_AVAILABLE:
        cancel_ids.append(ids[APPROVAL_TASK])  # an approved connection cancels in its approval
    group_id = str(group.group_id)
    correcting = author["correct_stock"] == CORRECT_LOWER
    correction_ids = [group.child_id(CORRECT_TASK), group.child_id(RECHECK_TASK)]
    if HITL_AVAILABLE:
        correction_ids.append(ids[APPROVAL_TASK])

    # multiple_outputs=False: each payload is one XCom value, whatever its declared type.
    # One instance at a time across the DAG's runs: two runs never take the same lease.
    @task(task_id=LIST_TASK, multiple_outputs=False, max_active_tis_per_dag=1)
    def list_connections() -> list[str]:
        """The connections this run serves: checked before any request, and each leased
        to this run (``locks``); those another run holds are left to it and reported."""
        from airflow_seller_provider.short_stock.locks import airflow_lease_store

        context = get_current_context()
        settings, conn_ids = task_settings(author, context)
        _check_ledger(settings)
        served, skipped = airflow_lease_store(context, group_id).take(conn_ids)
        for conn_id, why in skipped.items():
            log.warning("Connection %s is left to another run: %s", conn_id, why)
        context["ti"].xcom_push(key="skipped", value=skipped)
        return served

    @task(
        task_id=FIND_TASK,
        pool=SELLER_CENTER_POOL,
        multiple_outputs=False,
        map_index_template="{{ task.op_kwargs['seller_center_conn_id'] }}",
    )
    def find_short_items(seller_center_conn_id: str) -> FoundPayload:
        context = get_current_context()
        settings = task_settings(author, context)[0]
        return find_for(seller_center_conn_id, settings, str(context["run_id"]))

    @task(task_id=PLAN_TASK, trigger_rule="all_done", multiple_outputs=False)
    def plan_cancellations() -> list[PlanEntry]:
        """The batches to cancel now; the rest of the RunPlan goes under its own XCom keys
        (``held``, ``connections``, ``approval``, ``approvals``): Airflow maps only over
        return values. A held connection's lease lasts until its approval is answered."""
        # all_done: one connection's failed find step must not stop the others' plans.
        from airflow_seller_provider.metrics import record_brake_trip, record_short_items
        from airflow_seller_provider.short_stock.locks import airflow_lease_store
        from airflow_seller_provider.short_stock.plan import held_connections, plan_run, trips_for

        context = get_current_context()
        settings = task_settings(author, context)[0]
        served = _served(context, ids[LIST_TASK])
        pulled = context["ti"].xcom_pull(task_ids=ids[FIND_TASK])
        founds = [cast("FoundPayload", f) for f in xcom_dicts(pulled)]
        run_plan = plan_run(
            founds,
            served,
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
        _record_plan(settings, str(context["run_id"]), founds, run_plan["connections"])
        leases = airflow_lease_store(context, group_id)
        for conn_id in held_connections(run_plan["connections"]):
            leases.awaiting(conn_id, run_plan["approval"]["timeout_minutes"])
        for key in ("held", "connections", "approval", "approvals", "corrections"):
            context["ti"].xcom_push(key=key, value=run_plan[key])
        return run_plan["auto"]

    @task(task_id=RELEASE_TASK, trigger_rule="all_done")
    def release_connections() -> list[str]:
        """Give back the leases of the connections this run is done with (all but those
        whose approval waits), so that the next run serves them."""
        from airflow_seller_provider.short_stock.locks import airflow_lease_store

        context = get_current_context()
        held = set(_held(context, ids[PLAN_TASK]))
        done = [c for c in _served(context, ids[LIST_TASK]) if c not in held]
        return airflow_lease_store(context, group_id).release(done)

    @task(task_id=PUBLISH_TASK, trigger_rule="all_done", outlets=OUTLETS)
    def publish_cancellations() -> int:
        """One Asset event per run and group, its extra listing each connection's ids."""
        from airflow_seller_provider.short_stock.events import (
            cancellation_events,
            emit,
            stock_changes,
        )
        from airflow_seller_provider.short_stock.summary import pull_corrections, pull_outcomes

        context = get_current_context()
        settings = task_settings(author, context)[0]
        events = cancellation_events(
            pull_outcomes(context["ti"], cancel_ids),
            dag_run_id=context["run_id"],
            default_conn_id=str(settings["seller_center_conn_id"]),
        )
        changes = (
            stock_changes(pull_corrections(context["ti"], correction_ids)) if correcting else []
        )
        return emit(
            context["outlet_events"],
            events,
            dag_run_id=context["run_id"],
            group_id=group_id,
            corrections=changes,
        )

    @task(task_id=SUMMARY_TASK, trigger_rule="all_done", multiple_outputs=False)
    def summarize() -> Summary:
        """The run's summary; every lease this run still holds is given back."""
        from airflow_seller_provider.short_stock.locks import airflow_lease_store
        from airflow_seller_provider.short_stock.summary import summarize_run

        context = get_current_context()
        ti = context["ti"]
        served = _served(context, ids[LIST_TASK])
        airflow_lease_store(context, group_id).release(served)
        unsettled = _settle_run(context, author, ids[PLAN_TASK], ids[APPROVAL_TASK])
        summary, problem = summarize_run(
            ti,
            served,
            cancel_task_ids=cancel_ids,
            approval_task_id=ids[APPROVAL_TASK] if HITL_AVAILABLE else None,
            plan_task_id=ids[PLAN_TASK],
            find_task_id=ids[FIND_TASK],
            skipped=ti.xcom_pull(task_ids=ids[LIST_TASK], key="skipped") or {},
            correction_task_ids=correction_ids if correcting else (),
        )
        if unsettled:
            problem = "; ".join([problem, *unsettled] if problem else unsettled)
        ti.xcom_push(key="summary", value=summary)
        _tell(context, author, summary, problem)
        if problem:
            raise AirflowFailException(problem)
        return summary

    @task(task_id=CORRECT_TASK, pool=SELLER_CENTER_POOL)
    def correct_stock() -> dict[str, int]:
        """Lower Seller Center's stock where it declares more than the warehouse has,
        before the cancels, so that no new order takes a unit that is gone; figures hidden
        by a 0 wait for ``recheck_stock``. Held connections' corrections wait for their
        approval."""
        from airflow_seller_provider.short_stock.plan import PLANNED
        from airflow_seller_provider.short_stock.stock_correction import BEFORE
        from airflow_seller_provider.short_stock.summary import STOCK_KEY

        context = get_current_context()
        settings = task_settings(author, context)[0]
        ti = context["ti"]
        planned = ti.xcom_pull(task_ids=ids[PLAN_TASK], key="corrections") or {}
        statuses = {
            p["seller_center_conn_id"]: p["status"]
            for p in ti.xcom_pull(task_ids=ids[PLAN_TASK], key="connections") or []
        }
        outcomes: dict[str, Any] = {}
        deferred: dict[str, Any] = {}
        ledger = ledger_for(settings)
        for conn_id, entries in planned.items():
            if statuses.get(conn_id) != PLANNED:
                continue
            outcomes[conn_id], deferred[conn_id] = correct_for(
                conn_id,
                entries,
                phase=BEFORE,
                dry_run=bool(settings["dry_run"]),
                ledger=ledger,
                run_id=str(context["run_id"]),
                approval=AUTO,
            )
        ti.xcom_push(key=STOCK_KEY, value=outcomes)
        ti.xcom_push(key="deferred", value=deferred)
        return {conn_id: len(o) for conn_id, o in outcomes.items()}

    @task(task_id=RECHECK_TASK, pool=SELLER_CENTER_POOL, trigger_rule="all_done")
    def recheck_stock() -> dict[str, int]:
        """After the cancels: the corrections a figure of 0 hid, judged again with the
        reservations that are left."""
        from airflow_seller_provider.short_stock.stock_correction import AFTER
        from airflow_seller_provider.short_stock.summary import STOCK_KEY

        context = get_current_context()
        ti = context["ti"]
        deferred = ti.xcom_pull(task_ids=group.child_id(CORRECT_TASK), key="deferred") or {}
        ledger = ledger_for(task_settings(author, context)[0])
        outcomes: dict[str, Any] = {}
        for conn_id, entries in deferred.items():
            if entries:
                outcomes[conn_id] = correct_for(
                    conn_id,
                    entries,
                    phase=AFTER,
                    dry_run=False,
                    ledger=ledger,
                    run_id=str(context["run_id"]),
                    approval=AUTO,
                )[0]
        ti.xcom_push(key=STOCK_KEY, value=outcomes)
        return {conn_id: len(o) for conn_id, o in outcomes.items()}

    conn_ids = list_connections()
    found = find_short_items.expand(seller_center_conn_id=conn_ids)
    plan = plan_cancellations()
    found >> plan
    if author["ledger_conn_id"]:
        from airflow_seller_provider.short_stock.ledgered_cancel import LedgeredCancelOperator

        cancel = LedgeredCancelOperator.partial(
            task_id=CANCEL_TASK,
            reason=SHORTAGE,
            pool=SELLER_CENTER_POOL,
            ledger_conn_id=author["ledger_conn_id"],
            ledger_table=author["ledger_table"],
        ).expand_kwargs(plan)
    else:
        cancel = CancelOrderItemOperator.partial(
            task_id=CANCEL_TASK, reason=SHORTAGE, pool=SELLER_CENTER_POOL
        ).expand_kwargs(plan)
    release = release_connections()
    if correcting:
        # Corrections first: no new order takes a unit that is gone while the cancels run.
        plan >> correct_stock() >> cancel
        cancel >> recheck_stock() >> release
    else:
        cancel >> release
    closing: list[Any] = [release]
    if HITL_AVAILABLE:
        from airflow_seller_provider.short_stock.approval import ApproveAndCancelOperator

        @task(task_id=HELD_TASK, multiple_outputs=False)
        def held_connections() -> list[str]:
            """The connections whose cancellations wait for a person, one approval each."""
            return _held(get_current_context(), ids[PLAN_TASK])

        held = held_connections()
        plan >> held
        approve = ApproveAndCancelOperator.partial(
            task_id=APPROVAL_TASK,
            plan_task_id=ids[PLAN_TASK],
            author_settings=author,
            group_id=group_id,
            map_index_template="{{ task.seller_center_conn_id }}",
        ).expand(seller_center_conn_id=held)
        closing.append(approve)
    closing >> publish_cancellations() >> summarize()


def _held(context: Any, plan_task_id: str) -> list[str]:
    """The connections the run's plan holds for a person's approval."""
    from airflow_seller_provider.short_stock.plan import held_connections

    plans = context["ti"].xcom_pull(task_ids=plan_task_id, key="connections")
    return held_connections(plans or [])


def _served(context: Any, list_task_id: str) -> list[str]:
    """The connections the run's list step leased to it (none if it failed)."""
    served = context["ti"].xcom_pull(task_ids=list_task_id)
    return [str(c) for c in served] if isinstance(served, list) else []


def _check_ledger(settings: Mapping[str, Any]) -> None:
    """Before any request: the ledger's connection is a database one, and its table exists
    (created if missing)."""
    from airflow_seller_provider.ledger.store import LedgerError

    ledger = ledger_for(settings)
    if ledger is None:
        return
    try:
        if ledger.ensure_table():
            log.info("Ledger: created table %s on %s", ledger.table, ledger.conn_id)
    except LedgerError as exc:
        raise AirflowFailException(str(exc)) from None


def _record_plan(
    settings: Mapping[str, Any],
    run_id: str,
    founds: list[FoundPayload],
    connections: list[Any],
) -> None:
    """The items the plan decided to cancel, written ``planned`` before any cancel task runs
    (the brake's blocked ones ``not_sent``); a ledger that refuses fails the plan step, so
    nothing is sent."""
    from airflow_seller_provider.ledger import table as t
    from airflow_seller_provider.ledger.store import LedgerError
    from airflow_seller_provider.short_stock.plan import BLOCKED, HELD
    from airflow_seller_provider.short_stock.records import planned_rows

    ledger = ledger_for(settings)
    if ledger is None:
        return
    status = {p["seller_center_conn_id"]: p for p in connections}
    rows: list[dict[str, Any]] = []
    for found in founds:
        plan = status.get(found["seller_center_conn_id"]) or {}
        if plan.get("status") == BLOCKED:
            rows += planned_rows(
                run_id, found, approval=None, outcome=t.NOT_SENT, detail=plan.get("problem")
            )
        else:
            approval = None if plan.get("status") == HELD else t.AUTO
            rows += planned_rows(run_id, found, approval=approval)
    try:
        ledger.write(rows)
    except LedgerError as exc:
        raise AirflowException(f"{exc}; nothing was sent, the plan step is retried") from None
    log.info("Ledger: %d item(s) recorded planned in %s", len(rows), ledger.table)


def _settle_run(
    context: Any, author: dict[str, Any], plan_task_id: str, approval_id: str
) -> list[str]:
    """No ``planned`` row survives the run (``records.settle_run``)."""
    from airflow_seller_provider.hooks.seller_center import SellerCenterHook
    from airflow_seller_provider.ledger.store import LedgerError
    from airflow_seller_provider.short_stock.records import settle_run
    from airflow_seller_provider.short_stock.summary import approval_decisions

    try:
        ledger = ledger_for(task_settings(author, context)[0])
    except AirflowFailException as exc:
        return [str(exc)]
    if ledger is None:
        return []
    ti = context["ti"]
    decisions = (
        approval_decisions(ti.xcom_pull(task_ids=approval_id, key="decision"))
        if HITL_AVAILABLE
        else {}
    )
    try:
        return settle_run(
            ledger,
            str(context["run_id"]),
            held=_held(context, plan_task_id),
            decisions=decisions,
            client_for=lambda conn_id: SellerCenterHook(conn_id).get_conn(),
        )
    except LedgerError as exc:
        return [f"{exc}: the run's planned rows are left for the next run to settle"]


def _tell(context: Any, author: dict[str, Any], summary: Summary, problem: str | None) -> None:
    """The run's notices: a digest when it canceled items (a dry run: would have), trouble
    when it did not complete. Never raises."""
    from airflow_seller_provider.short_stock.notifications import (
        digest_notice,
        run_link,
        send,
        trouble_notice,
    )

    try:
        settings = task_settings(author, context)[0]
    except AirflowFailException:
        settings = author  # the run's settings are the problem: tell the author's people
    if not settings.get("notify_emails") and not settings.get("notify_slack_conn_id"):
        return
    dag_id = str(context["dag"].dag_id)
    link = run_link(dag_id, str(context["run_id"]))
    dry_run = bool(settings.get("dry_run"))
    notices = [digest_notice(summary, dag_id=dag_id, link=link, dry_run=dry_run)]
    if problem:
        notices.append(trouble_notice(summary, problem, dag_id=dag_id, link=link, dry_run=dry_run))
    for notice in notices:
        if notice is not None:
            send(notice, settings, context)
