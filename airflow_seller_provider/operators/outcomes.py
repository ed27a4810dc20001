"""How each item of a cancel task ends, and the task's XCom result (``OutcomePayload``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from airflow_seller_provider.client.models import OrderItem
from airflow_seller_provider.operators.targets import Target

DECISIONS = {"Approve": "approved", "Reject": "rejected"}
"""The approval operator's options, and the decision each records."""
TIMED_OUT = "timed_out"
"""The decision recorded when nobody answered the approval in time."""


class FailedItem(TypedDict):
    order_item_id: int
    code: str | None
    message: str


class CollateralItem(TypedDict):
    """An item the API canceled that was not asked for (its package went with another)."""

    order_item_id: int
    order_id: int
    package_id: str


class OutcomePayload(TypedDict):
    """A cancel task's result (XCom key ``outcome``): ids per outcome, and counts."""

    canceled: list[int]
    already_canceled: list[int]
    no_longer_pending: list[int]
    would_cancel: list[int]
    failed: list[FailedItem]
    collateral_canceled: list[CollateralItem]
    counts: dict[str, int]
    dry_run: bool
    seller_center_conn_id: str
    no_longer_short: NotRequired[list[int]]
    """Approved items that were no longer short when the approval was acted on (not sent)."""


OUTCOMES = ("canceled", "already_canceled", "no_longer_pending", "would_cancel", "failed")
DEFERRED = "deferred"
"""Internal: a package sibling of an item canceled in this task, settled by the re-read."""


@dataclass(frozen=True, slots=True)
class Outcome:
    order_item_id: int
    outcome: str
    code: str | None = None
    message: str = ""
    retryable: bool = False


def lookup_outcome(item: OrderItem | None, target: Target, *, lost_answer: bool) -> Outcome:
    """Decide an item's outcome from its current state after an E028 (or for a dry run)."""
    if item is None:
        where = (
            f"in order {target.order_id}"
            if target.order_id is not None
            else "in the orders of the lookup window (pass its order_id to look it up directly)"
        )
        return Outcome(
            target.order_item_id,
            "failed",
            "NOT_VERIFIED",
            f"could not be verified: not found {where}",
        )
    if item.status == "canceled":
        return Outcome(item.order_item_id, "canceled" if lost_answer else "already_canceled")
    if item.status != "pending":
        # Shipped, packed... while we decided: the customer gets it. Not a failure.
        return Outcome(item.order_item_id, "no_longer_pending", item.status)
    why = f"status is {item.status!r}"
    if item.is_fulfillment:
        why += ", and it is shipped by the marketplace (Fulfillment)"
    return Outcome(
        item.order_item_id,
        "failed",
        "E028",
        f"cannot be canceled: {why}; only pending items the seller ships can be canceled",
    )


def outcome_payload(
    outcomes: Sequence[Outcome],
    *,
    dry_run: bool,
    collateral: Sequence[CollateralItem] = (),
    seller_center_conn_id: str = "",
) -> OutcomePayload:
    """The small, JSON-serialisable result that goes to XCom: ids and counts only.

    ``collateral_canceled`` lists items the API canceled that were not asked for (their
    package went with a planned item)."""
    done: dict[str, list[int]] = {name: [] for name in OUTCOMES if name != "failed"}
    failed: list[FailedItem] = []
    for o in outcomes:
        if o.outcome == "failed":
            failed.append(
                {"order_item_id": o.order_item_id, "code": o.code, "message": o.message[:300]}
            )
        else:
            done[o.outcome].append(o.order_item_id)
    return {
        "canceled": done["canceled"],
        "already_canceled": done["already_canceled"],
        "no_longer_pending": done["no_longer_pending"],
        "would_cancel": done["would_cancel"],
        "failed": failed,
        "collateral_canceled": [
            {
                "order_item_id": c["order_item_id"],
                "order_id": c["order_id"],
                "package_id": c["package_id"],
            }
            for c in collateral
        ],
        "counts": {
            **{name: len(ids) for name, ids in done.items()},
            "failed": len(failed),
            "collateral_canceled": len(collateral),
        },
        "dry_run": dry_run,
        "seller_center_conn_id": seller_center_conn_id,
    }


summarize = outcome_payload
"""The former name (it also named the DAG's task and ``build_summary``)."""


class OutcomeCapture:
    """Stands in for the task instance of a cancel run inside another task (an approval,
    a ledgered batch): keeps the outcome it pushes, and passes everything else to ``ti``
    (None: nothing to pass to)."""

    def __init__(self, ti: Any = None) -> None:
        self._ti = ti
        self.outcome: OutcomePayload | None = None

    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> Any:
        if key == "outcome":
            self.outcome = value
        if self._ti is not None:
            return self._ti.xcom_push(key=key, value=value, **kwargs)
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ti, name)
