"""The cancel step with a ledger: a batch's rows are written before anything is sent."""

from __future__ import annotations

from typing import Any

from airflow_seller_provider.compat import AirflowException, AirflowFailException
from airflow_seller_provider.ledger import table as t
from airflow_seller_provider.ledger.store import Ledger, LedgerError
from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator
from airflow_seller_provider.operators.outcomes import OutcomeCapture, OutcomePayload
from airflow_seller_provider.operators.targets import parse_targets
from airflow_seller_provider.short_stock.records import batch_rows, outcome_rows


class LedgeredCancelOperator(CancelOrderItemOperator):
    """``CancelOrderItemOperator`` that keeps the books (``short_stock.records``).

    Before anything is sent the batch's rows are written ``planned``: a ledger that cannot
    be written fails the task (retried) with nothing sent. After, each row gets its
    outcome, even when the task then fails; a ledger that refuses that write fails the task
    too, and its retry (which sends nothing twice) writes them.

    :param ledger_conn_id: the ledger's database connection.
    :param ledger_table: its table.
    :param approval: the rows' approval (``auto``, or ``approved`` inside an approval).
    :param responded_by: who approved, when a person did.
    """

    def __init__(
        self,
        *,
        ledger_conn_id: str,
        ledger_table: str = t.DEFAULT_TABLE,
        approval: str | None = t.AUTO,
        responded_by: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id
        self.ledger_table = ledger_table
        self.approval = approval
        self.responded_by = responded_by

    def execute(self, context: Any) -> OutcomePayload:
        try:
            ids = [target.order_item_id for target in parse_targets(self.order_item_id)]
        except (TypeError, ValueError):
            return super().execute(context)  # refused there, with its own message
        try:
            ledger = Ledger.open(self.ledger_conn_id, self.ledger_table)
        except LedgerError as exc:
            raise AirflowFailException(str(exc)) from None
        run_id = str(context["run_id"])
        ti = context.get("ti")
        retry = int(getattr(ti, "try_number", 1) or 1) > 1
        started: set[int] = set()
        try:
            if retry:
                # This run's rows of the batch: what the API shows canceled now, of those
                # planned, failed or already recorded canceled, an earlier try canceled.
                wanted = {str(i) for i in ids}
                mine = {
                    int(r["item_key"]): r["outcome"]
                    for r in ledger.run_rows(run_id)
                    if r["kind"] == t.CANCEL and r["item_key"] in wanted
                }
                # A try that failed may have lost the answer to a cancel the API made.
                sent = (t.PLANNED, "canceled", "failed")
                started = {i for i, outcome in mine.items() if outcome in sent}
                # Rows with another final outcome keep it until this try's outcome comes.
                ids = [i for i in ids if i in started or i not in mine]
            ledger.write(
                batch_rows(run_id, self.seller_center_conn_id, ids, approval=self.approval)
            )
        except LedgerError as exc:
            raise AirflowException(f"{exc}; nothing was sent, the task is retried") from None
        capture = OutcomeCapture(ti)
        try:
            return super().execute({**context, "ti": capture})
        finally:
            if capture.outcome is not None:
                rows = outcome_rows(
                    run_id,
                    capture.outcome,
                    approval=self.approval,
                    responded_by=self.responded_by,
                    retry=retry,
                    planned=started,
                )
                try:
                    ledger.write(rows)
                except LedgerError as exc:
                    raise AirflowException(
                        f"{exc}; the outcomes of this batch are not recorded yet: the retry "
                        "records them (it sends nothing twice)"
                    ) from None
