"""The shapes of what the example DAG's tasks pass each other through XCom.

One declared type per payload: the find step's result, a plan entry (one cancel task's
arguments), a cancel task's outcome, and the run's summary. The DAG, the operator and
``run_summary`` all use them, so a renamed key fails the type check (``make test`` runs
mypy) or a test (``tests/short_stock/test_payloads.py``) instead of making the summary report zeros.
All are plain JSON: ids, counts and short texts, never a client or a secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NotRequired, TypedDict

from airflow_seller_provider.operators.outcomes import (
    CollateralItem,
    FailedItem,
)
from airflow_seller_provider.short_stock.stock_correction import (
    CorrectionPlan,
    StockCorrection,
)


def xcom_dicts(value: Any) -> list[dict[str, Any]]:
    """The payloads an ``xcom_pull`` gave, as a list: one dict (a task), a list or lazy
    sequence (a mapped task; Airflow 2.11 and 3 give different sequence types), or none.
    Anything that is not a dict (a failed map index) is left out."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [v for v in value if isinstance(v, dict)]
    return []


class OrderItemRef(TypedDict):
    """An item to cancel; with its order id it is verified in one call."""

    order_item_id: int
    order_id: int


class StockInfo(TypedDict):
    source: str
    counts: str
    """``on_hand`` or ``sellable``: what the source's figures count."""
    figures: int


class SkuShortage(TypedDict):
    """One (business unit, SKU) with short items: what a person approving reads."""

    business_unit: str
    sku: str
    pending: int
    """The seller's pending items of this SKU in this unit that the rule served."""
    stock: int | None
    """The source's figure (``StockInfo.counts`` says what it counts)."""
    short: int


class DecidedItem(TypedDict):
    """A short item with what decided it (the ledger's decision columns)."""

    order_item_id: int
    order_id: int
    sku: str
    business_unit: str
    package_id: str
    figure: int | None
    """The source's figure for its (unit, SKU)."""
    ahead: int
    """Pending items ahead of it in its (unit, SKU) queue, oldest first."""


class FoundPayload(TypedDict):
    """The find step's result (task ``find_short_items``, one per connection)."""

    seller_center_conn_id: str
    orders_seen: int
    pending: int
    """Pending items the rule considered: short + covered + unknown stock."""
    unknown_stock: int
    unknown_shipping: int
    no_business_unit: int
    short_by_unit: dict[str, int]
    stock: StockInfo
    cancel_scope: str
    note: str | None
    short: list[OrderItemRef]
    top_skus: list[SkuShortage]
    """The (unit, SKU) pairs with the most short items, at most ``TOP_SKUS``."""
    stock_corrections: NotRequired[CorrectionPlan]
    """With ``correct_stock="lower"``: Seller Center's figures to lower."""
    decided: NotRequired[list[DecidedItem]]
    """With a ledger (``ledger_conn_id``): the short items with what decided them."""


class PlanEntry(TypedDict):
    """One cancel task's keyword arguments (``expand_kwargs``): a batch of short items."""

    order_item_id: list[OrderItemRef]
    dry_run: bool
    reason_detail: str | None
    seller_center_conn_id: str
    max_concurrency: int


class ConnectionPlan(TypedDict):
    """What the plan step decided for one connection."""

    seller_center_conn_id: str
    status: str
    """``planned`` (batches go to the cancel step), ``held`` (they wait for a person's
    approval), ``blocked`` (the safety brake stopped them) or ``find_failed``."""
    short: int
    pending: int
    brake: list[str]
    """The limits the short items exceed, one sentence each; empty within the limits."""
    corrections: int
    """Stock corrections planned (``correct_stock="lower"``), under the same brake."""
    problem: str | None
    """Why this connection fails the run, when it does."""


class ApprovalRequest(TypedDict):
    """What the approval step shows and waits for (Airflow 3.1+ human-in-the-loop)."""

    required: bool
    mode: str
    """The run's ``require_approval``: ``on_brake``, ``always`` or ``never``."""
    items: int
    """Short items that wait for the answer."""
    corrections: int
    """Stock corrections that wait for the answer."""
    timeout_minutes: float
    subject: str
    report: str
    """Markdown: counts per business unit, the most short SKUs, sample ids, the stock
    source and the limits exceeded."""


class RunPlan(TypedDict):
    """The plan step's result (task ``plan_cancellations``; each key is its own XCom)."""

    auto: list[PlanEntry]
    """Batches the cancel step runs now (``cancel_short_items``)."""
    held: list[PlanEntry]
    """Batches that run only once a person approves (``approve_cancellations``, one per
    held connection, which decides again before it cancels)."""
    corrections: dict[str, list[StockCorrection]]
    """Stock corrections the correction step makes now, per connection (held connections'
    are made by their approval, decided again)."""
    connections: list[ConnectionPlan]
    approval: ApprovalRequest
    """The run's request over every held connection (its report is the run's)."""
    approvals: dict[str, ApprovalRequest]
    """One request per held connection (each mapped approval task asks its own)."""


class ApprovalSummary(TypedDict):
    required: bool
    decision: str | None
    """``approved``, ``rejected``, ``timed_out`` (no answer in time), or None when no
    approval was asked for."""
    responded_by: str | None
    items: int
    decisions: NotRequired[dict[str, dict[str, str | None]]]
    """Per held connection (each has its own approval): decision and responder."""


class Counts(TypedDict):
    """The counts a summary reports, for the run and for each connection."""

    pending: int
    short: int
    unknown_stock: int
    unknown_shipping: int
    no_business_unit: int
    canceled: int
    already_canceled: int
    no_longer_pending: int
    would_cancel: int
    failed: int
    collateral_canceled: int
    no_longer_short: int
    """Approved items that were no longer short when the approval was acted on."""
    short_by_unit: dict[str, int]


class StockCorrectionSummary(TypedDict):
    """The run's stock corrections (``correct_stock="lower"``)."""

    counts: dict[str, int]
    """Per outcome: ``lowered``, ``unchanged``, ``skipped``, ``failed``, ``would_lower``."""
    connections: dict[str, dict[str, dict[str, int]]]
    """Per connection and business unit, the counts per outcome."""
    entries: list[dict[str, Any]]
    """Each correction but the unchanged (``CorrectionOutcome`` with its connection)."""


class ConnectionSummary(Counts):
    """One connection's counts in the run's summary, and how it ended."""

    status: str
    """``planned``, ``held``, ``blocked``, ``find_failed``, ``plan_failed``, or ``skipped``
    (another run held the connection: its approval waits, or it still cancels)."""
    problem: str | None
    note: NotRequired[str]
    """For ``skipped``: which run holds it, and since when."""
    stock_corrections: NotRequired[dict[str, dict[str, int]]]
    """Per business unit, the stock corrections per outcome."""


class SummaryIds(TypedDict):
    short: list[int]
    canceled: list[int]
    already_canceled: list[int]
    no_longer_pending: list[int]
    would_cancel: list[int]
    failed: list[int]
    collateral_canceled: list[int]
    no_longer_short: list[int]


class Summary(Counts):
    """The run's summary (task ``summarize``, XCom key ``summary``); the counts are the
    totals over its connections."""

    stock: StockInfo | dict[str, object]
    cancel_scope: str | None
    note: str | None
    ids: SummaryIds
    failures: list[FailedItem]
    collateral: list[CollateralItem]
    connections: dict[str, ConnectionSummary]
    """Per connection (``seller_center_conn_ids``); the counts above are their totals."""
    approval: ApprovalSummary | None
    report: str | None
    """The Markdown report a person approving reads; a dry run writes it too."""
    stock_corrections: NotRequired[StockCorrectionSummary]
    """With ``correct_stock="lower"``."""
