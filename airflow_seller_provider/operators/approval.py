"""``CancellationApprovalOperator``: a person approves (or rejects) the cancellations the
plan step held back, in Airflow's UI (Required Actions), before any of them is sent.

Built on the standard provider's ``ApprovalOperator`` (Airflow 3.1+): Approve returns the
held batches, which the approved cancel task maps over; Reject skips that task. Its
subject, Markdown body and response timeout come from the plan step's ``approval`` XCom
at run time; with nothing held it skips itself.
No answer in time fails the task (no defaults, no retries): the held items stay uncanceled
and the summary says why. It pushes ``{"decision", "responded_by"}`` under the XCom key
``decision`` before the provider acts on the answer, so the summary reads it either way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.exceptions import HITLTimeoutError
from airflow.providers.standard.operators.hitl import ApprovalOperator

from airflow_seller_provider.compat import AirflowFailException, AirflowSkipException
from airflow_seller_provider.operators.outcomes import DECISIONS, TIMED_OUT

DECISION_KEY = "decision"


class CancellationApprovalOperator(ApprovalOperator):
    """Waits for a person to approve the plan step's held cancellations.

    :param plan_task_id: the task whose ``approval`` XCom (``payloads.ApprovalRequest``)
        says whether to ask, and what.
    """

    def __init__(self, *, plan_task_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("subject", "Approve Seller Center cancellations")
        kwargs.setdefault("retries", 0)  # a retry would ask again after a timeout
        super().__init__(**kwargs)
        self.plan_task_id = plan_task_id

    def execute(self, context: Any) -> Any:
        request = context["ti"].xcom_pull(task_ids=self.plan_task_id, key="approval")
        if not isinstance(request, dict) or not request.get("required"):
            raise AirflowSkipException("Nothing in this run waits for approval.")
        self.subject = request["subject"]
        self.body = request["report"]
        self.response_timeout = timedelta(minutes=float(request["timeout_minutes"]))
        self.log.info("%s: waiting up to %g minute(s)", self.subject, request["timeout_minutes"])
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "error" in event:
            decision = TIMED_OUT if event.get("error_type") == "timeout" else None
            responder = None
        else:
            chosen = event.get("chosen_options") or [""]
            decision = DECISIONS.get(chosen[0], chosen[0])
            user = event.get("responded_by_user") or {}
            responder = user.get("name") if isinstance(user, dict) else None
        context["ti"].xcom_push(
            key=DECISION_KEY, value={"decision": decision, "responded_by": responder}
        )
        self.log.info("Decision: %s (by %s)", decision, responder or "nobody")
        try:
            super().execute_complete(context=context, event=event)
        except HITLTimeoutError:
            raise AirflowFailException(
                "No answer to the approval request in time: nothing was canceled. Trigger "
                "the DAG again to ask again, or raise approval_timeout_minutes."
            ) from None
        # Approved (a rejection skipped the downstream tasks above): the held batches are
        # this task's result, which the approved cancel task maps over.
        return context["ti"].xcom_pull(task_ids=self.plan_task_id, key="held") or []
