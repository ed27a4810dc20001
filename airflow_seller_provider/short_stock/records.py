"""What the short-stock workflow writes to the ledger (``ledger_conn_id``), and when.

- The plan step writes one ``planned`` row per item it decided to cancel (with what decided
  it: the SKU, unit, source, its figure, the pending items ahead), before any cancel task
  starts; items the brake blocked are written ``not_sent``.
- A cancel batch writes its rows ``planned`` again before it sends anything (if the ledger
  cannot be written the batch sends nothing and fails, to be retried), and its outcomes
  after. On a retry (try 2+), an item the API shows canceled whose row this run still has
  ``planned`` was canceled by the killed try: it is recorded ``canceled``.
- Stock corrections are written ``planned`` before UpdateStock and with their outcome after.
- Rows a run leaves ``planned`` are settled from the API's state: by the next run's find
  step (other runs' rows of its connection) and by the run's own summary (its rows), so that
  no ``planned`` row survives a completed run. Settling never sends a cancel.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_seller_provider.ledger import table as t
from airflow_seller_provider.ledger.store import Ledger

if TYPE_CHECKING:
    from airflow_seller_provider.client.api import SellerCenterClient
    from airflow_seller_provider.operators.outcomes import OutcomePayload
    from airflow_seller_provider.short_stock.payloads import FoundPayload
    from airflow_seller_provider.short_stock.stock_correction import (
        CorrectionOutcome,
        StockCorrection,
    )

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
"""A stock row left ``planned``: the task ended before UpdateStock's answer (the next run
reads the figure again and sets it if still needed)."""


def open_ledger(settings: Mapping[str, Any]) -> Ledger | None:
    """The run's ledger (``ledger_conn_id``, ``ledger_table``), or None without one."""
    conn_id = settings.get("ledger_conn_id")
    if not conn_id:
        return None
    return Ledger.open(str(conn_id), str(settings.get("ledger_table") or t.DEFAULT_TABLE))


def _cancel_key(run_id: str, order_item_id: int) -> dict[str, Any]:
    return {"run_id": run_id, "kind": t.CANCEL, "item_key": str(order_item_id)}


def planned_rows(
    run_id: str,
    found: FoundPayload,
    *,
    approval: str | None,
    outcome: str = t.PLANNED,
    detail: str | None = None,
) -> list[dict[str, Any]]:
    """One row per item the find step decided to cancel, with what decided it."""
    conn_id = found["seller_center_conn_id"]
    details: dict[int, Mapping[str, Any]] = {
        d["order_item_id"]: d for d in found.get("decided", [])
    }
    rows = []
    for ref in found["short"]:
        item: Mapping[str, Any] = details.get(ref["order_item_id"], {})
        rows.append(
            {
                **_cancel_key(run_id, ref["order_item_id"]),
                "seller_center_conn_id": conn_id,
                "order_item_id": ref["order_item_id"],
                "order_id": ref["order_id"],
                "business_unit": item.get("business_unit"),
                "sku": item.get("sku"),
                "package_id": item.get("package_id") or None,
                "figure": item.get("figure"),
                "ahead": item.get("ahead"),
                "stock_source": found["stock"]["source"],
                "stock_counts": found["stock"]["counts"],
                "approval": approval,
                "outcome": outcome,
                "detail": detail,
            }
        )
    return rows


def cancel_row(
    run_id: str,
    conn_id: str,
    order_item_id: int,
    outcome: str,
    *,
    approval: str | None,
    responded_by: str | None = None,
    code: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """One cancel row's outcome (the columns the decision wrote are left as they are)."""
    return {
        **_cancel_key(run_id, order_item_id),
        "seller_center_conn_id": conn_id,
        "order_item_id": order_item_id,
        "approval": approval,
        "responded_by": responded_by,
        "outcome": outcome,
        "error_code": code,
        "detail": detail,
    }


def batch_rows(
    run_id: str, conn_id: str, order_item_ids: Iterable[int], *, approval: str | None
) -> list[dict[str, Any]]:
    """A cancel batch's rows, ``planned``: written before anything is sent."""
    return [cancel_row(run_id, conn_id, i, t.PLANNED, approval=approval) for i in order_item_ids]


def outcome_rows(
    run_id: str,
    outcome: OutcomePayload,
    *,
    approval: str | None,
    responded_by: str | None = None,
    retry: bool = False,
    planned: Iterable[int] = (),
) -> list[dict[str, Any]]:
    """A cancel batch's outcomes. ``retry``: this is try 2+, and ``planned`` the items whose
    row was ``planned`` when it started: those the API shows canceled were canceled by the
    try that was interrupted."""
    conn_id = outcome["seller_center_conn_id"]
    was_planned = set(planned)
    rows: list[dict[str, Any]] = []

    def add(item_id: int, result: str, code: str | None = None, detail: str | None = None) -> None:
        rows.append(
            cancel_row(
                run_id,
                conn_id,
                item_id,
                result,
                approval=approval,
                responded_by=responded_by,
                code=code,
                detail=detail,
            )
        )

    for item_id in outcome["canceled"]:
        add(item_id, "canceled")
    for item_id in outcome["already_canceled"]:
        if retry and item_id in was_planned:
            add(item_id, "canceled", detail="canceled by an interrupted try (settled on retry)")
        else:
            add(item_id, "already_canceled")
    for item_id in outcome["no_longer_pending"]:
        add(item_id, "no_longer_pending")
    for item_id in outcome["would_cancel"]:
        add(item_id, "would_cancel")
    for failed in outcome["failed"]:
        add(failed["order_item_id"], "failed", failed.get("code"), failed.get("message"))
    for item_id in outcome.get("no_longer_short", []):
        add(item_id, "no_longer_short")
    return rows


def stock_rows(
    run_id: str,
    conn_id: str,
    entries: Iterable[StockCorrection | CorrectionOutcome],
    *,
    approval: str | None,
    source: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Stock rows: ``planned`` for corrections about to be made (``StockCorrection``), or
    their outcomes (``CorrectionOutcome``)."""
    rows = []
    for entry in entries:
        e = cast("Mapping[str, Any]", entry)
        row: dict[str, Any] = {
            "run_id": run_id,
            "kind": t.STOCK,
            "item_key": t.stock_key(conn_id, e["business_unit"], e["sku"]),
            "seller_center_conn_id": conn_id,
            "business_unit": e["business_unit"],
            "sku": e["sku"],
            "approval": approval,
        }
        if "outcome" in e:  # an outcome
            row.update(
                outcome=e["outcome"],
                from_quantity=e.get("from_quantity"),
                to_quantity=e.get("to_quantity"),
                error_code=e.get("error_code"),
                detail=e.get("why"),
            )
        else:
            row.update(
                outcome=t.PLANNED,
                figure=e.get("on_hand"),
                from_quantity=e.get("declared"),
                to_quantity=e.get("target"),
                stock_source=(source or {}).get("source"),
                stock_counts=(source or {}).get("counts"),
            )
        rows.append(row)
    return rows


def settle(
    ledger: Ledger,
    client: SellerCenterClient,
    rows: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Settle rows from the API's state (one GetMultipleOrderItems per 100 orders; nothing
    is sent). ``planned``: ``canceled``, ``not_sent`` (still pending) or
    ``no_longer_pending``; a stock row ``failed`` (``interrupted``). ``failed``: ``canceled``
    when the API shows it canceled, else left as it is. Returns what it wrote."""
    settled: list[dict[str, Any]] = []
    cancels = [r for r in rows if r["kind"] == t.CANCEL and r["order_id"] is not None]
    found: dict[int, Any] = {}
    if cancels:
        orders = client.get_multiple_order_items(sorted({int(r["order_id"]) for r in cancels}))
        found = {i.order_item_id: i for items in orders.values() for i in items}
    for row in rows:
        key = {k: row[k] for k in t.KEY}
        base = {**key, "seller_center_conn_id": row["seller_center_conn_id"]}
        if row["outcome"] != t.PLANNED:
            # A failure: only the API showing the item canceled changes it (an answer lost
            # on the way hid a cancel it made); the error stays on record otherwise.
            shown = found.get(int(row["order_item_id"] or 0))
            if row["kind"] == t.CANCEL and shown is not None and shown.status == "canceled":
                settled.append(
                    {
                        **base,
                        "outcome": "canceled",
                        "detail": "the API shows it canceled after "
                        + (row["error_code"] or "a failure"),
                    }
                )
            continue
        if row["kind"] == t.STOCK:
            settled.append(
                {
                    **base,
                    "outcome": "failed",
                    "error_code": INTERRUPTED,
                    "detail": "the task ended before UpdateStock answered",
                }
            )
            continue
        item = found.get(int(row["order_item_id"] or 0))
        if item is None:
            outcome, detail = "failed", "not found in its order when settled"
        elif item.status == "canceled":
            outcome, detail = "canceled", "settled from the API's state"
        elif item.status == "pending":
            outcome, detail = t.NOT_SENT, "still pending when settled: never sent"
        else:
            outcome, detail = "no_longer_pending", f"{item.status} when settled"
        settled.append({**base, "outcome": outcome, "detail": detail})
    ledger.write(settled)
    return settled


def refused(
    rows: Sequence[Mapping[str, Any]], decisions: Mapping[str, tuple[str | None, str | None]]
) -> list[dict[str, Any]]:
    """Rows of held connections whose approval was refused or not given: never sent."""
    out = []
    for row in rows:
        decision, by = decisions.get(row["seller_center_conn_id"], (None, None))
        if decision == t.APPROVED:
            continue
        out.append(
            {
                **{k: row[k] for k in t.KEY},
                "seller_center_conn_id": row["seller_center_conn_id"],
                "approval": decision or t.TIMED_OUT,
                "responded_by": by,
                "outcome": t.NOT_SENT,
                "detail": "the approval was "
                + {t.REJECTED: "rejected"}.get(decision or "", "not given in time"),
            }
        )
    return out


def by_connection(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[str(row["seller_center_conn_id"])].append(row)
    return grouped


def settle_run(
    ledger: Ledger,
    run_id: str,
    *,
    held: Iterable[str],
    decisions: Mapping[str, tuple[str | None, str | None]],
    client_for: Any,
) -> list[str]:
    """Settle every row ``run_id`` left ``planned``: a held connection's whose approval was
    refused or not given are ``not_sent``; the others from the API's state
    (``client_for(conn_id)`` gives a connection's client). Returns the problems (a
    connection whose rows could not be settled keeps them ``planned``)."""
    from airflow_seller_provider.client.errors import SellerCenterError

    waiting = set(held)
    problems: list[str] = []
    for conn_id, rows in by_connection(ledger.run_unsettled(run_id)).items():
        if conn_id in waiting and decisions.get(conn_id, (None, None))[0] != t.APPROVED:
            ledger.write(refused([r for r in rows if r["outcome"] == t.PLANNED], decisions))
            continue
        try:
            settled = settle(ledger, client_for(conn_id), rows)
        except (SellerCenterError, ValueError) as exc:
            left = sum(r["outcome"] == t.PLANNED for r in rows)
            if left:
                problems.append(
                    f"connection {conn_id!r}: {left} ledger row(s) left planned, the API "
                    f"could not be read to settle them ({exc}); the next run settles them"
                )
            continue
        log.info("Ledger: %d row(s) of this run settled for %s", len(settled), conn_id)
    return problems
