"""``CancellationApprovalOperator``: a person approves (or rejects) the cancellations the
plan step held back, in Airflow's UI (Required Actions), before any of them is sent.

Built on the standard provider's ``ApprovalOperator`` (Airflow 3.1+). Its subject, Markdown
body and response timeout come from the plan step's XCom at run time: the run's
``approval`` request, or with ``seller_center_conn_id`` that connection's own request (key
``approvals``), so that one approval can be mapped per connection and no seller's decision
waits on another's. With nothing to ask it skips itself.

It pushes ``{"decision", "responded_by", "seller_center_conn_id"}`` under the XCom key
``decision`` whatever the answer. Approve returns ``approved(context)`` (by default the held
batches); Reject returns None and skips nothing (the run's closing steps must still run);
no answer in time fails the task (no retries: a retry would ask again).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.exceptions import HITLTimeoutError
from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator

from airflow_seller_provider.compat import AirflowFailException, AirflowSkipException
from airflow_seller_provider.operators.outcomes import DECISIONS, TIMED_OUT

DECISION_KEY = "decision"


class CancellationApprovalOperator(ApprovalOperator):
    """Waits for a person to approve the plan step's held cancellations.

    :param plan_task_id: the task whose ``approval`` (or ``approvals``) XCom says whether to
        ask, and what.
    :param seller_center_conn_id: ask for this connection's held items only (its request in
        the ``approvals`` XCom); None: the run's one request. Templated, so it can be mapped.
    """

    template_fields = (*ApprovalOperator.template_fields, "seller_center_conn_id")

    def __init__(
        self, *, plan_task_id: str, seller_center_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("subject", "Approve Seller Center cancellations")
        kwargs.setdefault("retries", 0)  # a retry would ask again after a timeout
        super().__init__(**kwargs)
        self.plan_task_id = plan_task_id
        self.seller_center_conn_id = seller_center_conn_id
        self.responded_by: str | None = None
        """Who answered, once the answer came (for ``approved``)."""

    def request(self, context: Any) -> dict[str, Any] | None:
        """What the plan step asks for this task (None: nothing)."""
        ti = context["ti"]
        if self.seller_center_conn_id is None:
            request = ti.xcom_pull(task_ids=self.plan_task_id, key="approval")
        else:
            requests = ti.xcom_pull(task_ids=self.plan_task_id, key="approvals") or {}
            request = requests.get(self.seller_center_conn_id)
        return request if isinstance(request, dict) and request.get("required") else None

    def execute(self, context: Any) -> Any:
        request = self.request(context)
        if request is None:
            raise AirflowSkipException("Nothing waits for approval here.")
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
            key=DECISION_KEY,
            value={
                "decision": decision,
                "responded_by": responder,
                "seller_center_conn_id": self.seller_center_conn_id,
            },
        )
        self.log.info("Decision: %s (by %s)", decision, responder or "nobody")
        self.responded_by = responder
        try:
            # The HITL base's checks, without ApprovalOperator's skipping of the downstream
            # tasks on Reject: the run's closing steps must run whatever the answer.
            HITLOperator.execute_complete(self, context=context, event=event)
        except HITLTimeoutError:
            raise AirflowFailException(
                "No answer to the approval request in time: nothing was canceled. The next "
                "run asks again, or raise approval_timeout_minutes."
            ) from None
        if decision != "approved":
            self.log.info("Rejected: nothing is canceled for these items.")
            return None
        return self.approved(context)

    def approved(self, context: Any) -> Any:
        """What Approve returns: the held batches (of this connection, when mapped)."""
        held = context["ti"].xcom_pull(task_ids=self.plan_task_id, key="held") or []
        if self.seller_center_conn_id is None:
            return held
        return [b for b in held if b.get("seller_center_conn_id") == self.seller_center_conn_id]
