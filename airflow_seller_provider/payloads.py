"""The shapes of what the example DAG's tasks pass each other through XCom.

One declared type per payload: the find step's result, a plan entry (one cancel task's
arguments), a cancel task's outcome, and the run's summary. The DAG, the operator and
``run_summary`` all use them, so a renamed key fails the type check (``make test`` runs
mypy) or a test (``tests/test_payloads.py``) instead of making the summary report zeros.
All are plain JSON: ids, counts and short texts, never a client or a secret.
"""

from __future__ import annotations

from typing import TypedDict


class OrderItemRef(TypedDict):
    """An item to cancel; with its order id it is verified in one call."""

    order_item_id: int
    order_id: int


class StockInfo(TypedDict):
    source: str
    counts: str
    """``on_hand`` or ``sellable``: what the source's figures count."""
    figures: int


class FoundPayload(TypedDict):
    """The find step's result (task ``find_short_items``)."""

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


class PlanEntry(TypedDict):
    """One cancel task's keyword arguments (``expand_kwargs``): a batch of short items."""

    order_item_id: list[OrderItemRef]
    dry_run: bool
    reason_detail: str | None
    seller_center_conn_id: str
    max_concurrency: int


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


class SummaryIds(TypedDict):
    short: list[int]
    canceled: list[int]
    already_canceled: list[int]
    no_longer_pending: list[int]
    would_cancel: list[int]
    failed: list[int]
    collateral_canceled: list[int]


class Summary(TypedDict):
    """The run's summary (task ``summarize``, XCom key ``summary``)."""

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
    short_by_unit: dict[str, int]
    stock: StockInfo | dict[str, object]
    cancel_scope: str | None
    note: str | None
    ids: SummaryIds
    failures: list[FailedItem]
    collateral: list[CollateralItem]
