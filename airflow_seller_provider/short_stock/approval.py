"""The short-stock approval, one per connection whose cancellations were held: a person
answers in Airflow's UI, and Approve decides again before anything is sent.

``ApproveAndCancelOperator`` is mapped over the held connections, so each seller's request
waits on its own and its cancellations start as soon as it is approved. Approve reads the
connection's pending items and stock again (the same source and rule) and cancels only the
approved items that are *still* short; the others end ``no_longer_short``. The approved
stock corrections still needed then are made first (``correct_stock="lower"``). Items that
became short since the request are not canceled under it: the next run plans them.
Whatever the answer, the connection's lease is given back at the end (``locks``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from airflow_seller_provider.client.protocol import SHORTAGE
from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.operators.approval import CancellationApprovalOperator
from airflow_seller_provider.operators.outcomes import (
    OutcomeCapture,
    OutcomePayload,
    outcome_payload,
)
from airflow_seller_provider.short_stock.payloads import OrderItemRef
from airflow_seller_provider.short_stock.plan import redecide

NO_LONGER_SHORT = "no_longer_short"


class ApproveAndCancelOperator(CancellationApprovalOperator):
    """Ask for one connection's held cancellations; on Approve, decide again and cancel.

    :param author_settings: the group's settings (a run's params change them only as
        ``run_policy`` allows), for the re-decision.
    :param group_id: the task group's id (its connection leases).
    """

    def __init__(self, *, author_settings: dict[str, Any], group_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.author_settings = author_settings
        self.group_id = group_id

    def execute(self, context: Any) -> Any:
        """Ask: only the run's ``approvers`` may answer (Airflow's ``assigned_users``), and
        ``notify_emails`` / ``notify_slack_conn_id`` hear of it once the request is written."""
        from airflow_seller_provider.short_stock.steps import task_settings

        settings = task_settings(self.author_settings, context)[0]
        approvers = [str(u) for u in settings.get("approvers") or []]
        self.assigned_users = [{"id": u, "name": u} for u in approvers] or None
        self.notifiers = [_RequestNotice(self, settings)]
        if approvers:
            self.log.info("Only these Airflow users may answer: %s", ", ".join(approvers))
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from airflow_seller_provider.short_stock.locks import airflow_lease_store

        try:
            return super().execute_complete(context, event)
        finally:
            if self.seller_center_conn_id:
                airflow_lease_store(context, self.group_id).release([self.seller_center_conn_id])

    def approved(self, context: Any) -> OutcomePayload:
        from airflow_seller_provider.ledger.table import APPROVED
        from airflow_seller_provider.metrics import record_item_outcomes
        from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
        from airflow_seller_provider.short_stock.ledgered_cancel import LedgeredCancelOperator
        from airflow_seller_provider.short_stock.plan import corrections_of
        from airflow_seller_provider.short_stock.records import cancel_row
        from airflow_seller_provider.short_stock.steps import (
            correct_for,
            find_for,
            ledger_for,
            task_settings,
        )
        from airflow_seller_provider.short_stock.stock_correction import (
            AFTER,
            BEFORE,
            still_needed,
        )
        from airflow_seller_provider.short_stock.summary import STOCK_KEY

        conn_id = str(self.seller_center_conn_id)
        batches = super().approved(context)
        approved: list[OrderItemRef] = [e for b in batches for e in b["order_item_id"]]
        settings = task_settings(self.author_settings, context)[0]
        self.log.info("Approved: reading %s's pending items and stock again", conn_id)
        run_id = str(context["run_id"])
        now = find_for(conn_id, settings, run_id)
        ledger = ledger_for(settings)
        keep, gone = redecide(approved, now)
        # The approved stock corrections still needed now, made before the cancels.
        asked = context["ti"].xcom_pull(task_ids=self.plan_task_id, key="corrections") or {}
        fixes = still_needed(asked.get(conn_id) or [], corrections_of(now))
        book = {"ledger": ledger, "run_id": run_id, "approval": APPROVED}
        corrected, deferred = correct_for(conn_id, fixes, phase=BEFORE, dry_run=False, **book)
        self.log.info(
            "%d of %d approved item(s) are still short; %d no longer short (not canceled)%s",
            len(keep),
            len(approved),
            len(gone),
            f": {', '.join(map(str, gone[:50]))}" if gone else "",
        )
        record_item_outcomes(conn_id, {NO_LONGER_SHORT: len(gone)})
        captured = OutcomeCapture()
        try:
            if keep:
                first = batches[0]
                cancel = dict(
                    task_id=f"{self.task_id}__cancel",
                    order_item_id=keep,
                    reason=SHORTAGE,
                    reason_detail=first.get("reason_detail"),
                    seller_center_conn_id=conn_id,
                    max_concurrency=int(first.get("max_concurrency") or DEFAULT_MAX_CONCURRENCY),
                )
                if ledger is None:
                    CancelOrderItemOperator(**cancel).execute({"ti": captured})
                else:
                    LedgeredCancelOperator(
                        **cancel,
                        ledger_conn_id=ledger.conn_id,
                        ledger_table=ledger.table,
                        approval=APPROVED,
                        responded_by=self.responded_by,
                    ).execute({"ti": captured, "run_id": run_id})
            if deferred:
                corrected += correct_for(conn_id, deferred, phase=AFTER, dry_run=False, **book)[0]
        finally:
            context["ti"].xcom_push(key=STOCK_KEY, value={conn_id: corrected})
            # One outcome for the task, pushed even when a cancel failed: the cancel's (or
            # none), with the items that were no longer short.
            result = captured.outcome or outcome_payload(
                [], dry_run=False, seller_center_conn_id=conn_id
            )
            result["no_longer_short"] = gone
            result["counts"][NO_LONGER_SHORT] = len(gone)
            context["ti"].xcom_push(key="outcome", value=result)
            if ledger is not None and gone:
                ledger.write(
                    [
                        cancel_row(
                            run_id,
                            conn_id,
                            item_id,
                            NO_LONGER_SHORT,
                            approval=APPROVED,
                            responded_by=self.responded_by,
                        )
                        for item_id in gone
                    ]
                )
        return result


class _RequestNotice(BaseNotifier):
    """Tells ``notify_emails`` / ``notify_slack_conn_id`` that an approval waits: the
    report, the deadline, and the link to the Required actions page. Never raises."""

    template_fields = ()

    def __init__(self, task: ApproveAndCancelOperator, settings: dict[str, Any]) -> None:
        super().__init__()
        self.task = task
        self.settings = settings

    def notify(self, context: Any) -> None:
        from datetime import UTC, datetime

        from airflow_seller_provider.short_stock.notifications import (
            approval_notice,
            base_url,
            send,
        )

        try:
            request = self.task.request(context) or {}
            try:
                link = self.task.generate_link_to_ui(
                    task_instance=context["ti"], base_url=base_url()
                )
            except ValueError:  # no base URL configured
                link = None
            deadline = datetime.now(UTC) + (self.task.response_timeout or timedelta(0))
            notice = approval_notice(
                request,
                conn_id=str(self.task.seller_center_conn_id),
                deadline=deadline,
                link=link,
            )
        except Exception as exc:  # a notice never stops the approval
            self.task.log.warning("Could not build the approval notice: %s", exc)
            return
        send(notice, self.settings, context)
