"""The Markdown a person reads before approving a run's cancellations (and a dry run's
summary): per connection, counts per business unit, the SKUs with the most short items,
sample ids, the stock source and what its figures count, and the limits exceeded.

Bounded: a few rows per table and a few connections in detail, whatever the run's size.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow_seller_provider.short_stock.payloads import ConnectionPlan, FoundPayload
from airflow_seller_provider.short_stock.stock_correction import warehouse_label

SKU_ROWS = 10
SAMPLE_IDS = 10
CONNECTIONS_IN_DETAIL = 20

WHAT_COUNTS = {
    "sellable": "**sellable** units: already net of the units reserved by pending orders, "
    "so only a figure below zero is a shortage (the newest items of that SKU are short)",
    "on_hand": "**on-hand** units in the warehouse, including those pending orders wait "
    "for: pending items take them oldest first, the rest are short",
}


def approval_subject(waiting: Sequence[tuple[FoundPayload, ConnectionPlan]]) -> str:
    items = sum(plan["short"] for _, plan in waiting)
    fixes = sum(plan.get("corrections", 0) for _, plan in waiting)
    conns = len(waiting)
    where = (
        f"{conns} connections"
        if conns > 1
        else f"connection {waiting[0][1]['seller_center_conn_id']}"
    )
    also = f" and lowering {fixes} stock figure(s)" if fixes else ""
    return f"Approve canceling {items} short order item(s){also} on Seller Center ({where})"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _why(plan: ConnectionPlan, mode: str) -> str:
    if plan["brake"]:
        return "; ".join(plan["brake"])
    if mode == "always":
        return "require_approval is 'always': every run with something to cancel asks"
    return "within the safety brake's limits"


def _section(found: FoundPayload, plan: ConnectionPlan, mode: str) -> list[str]:
    stock = found["stock"]
    lines = [
        f"### Connection `{_cell(plan['seller_center_conn_id'])}`: "
        f"{plan['short']} short of {plan['pending']} pending item(s)",
        "",
        f"- **Limits:** {_cell(_why(plan, mode))}",
        f"- **Stock source:** {_cell(stock['source'])}, {stock['figures']} figure(s), counting "
        + WHAT_COUNTS.get(stock["counts"], _cell(stock["counts"])),
        f"- **Cancel scope:** {_cell(found['cancel_scope'])}",
        f"- **Never canceled, reported:** {found['unknown_stock']} with unknown stock, "
        f"{found['unknown_shipping']} with an unrecognised shipping type, "
        f"{found['no_business_unit']} without a business unit",
        "",
        "| Business unit | Short items |",
        "|---|---:|",
    ]
    lines += [
        f"| {_cell(u or '(none)')} | {n} |" for u, n in sorted(found["short_by_unit"].items())
    ]
    skus = found.get("top_skus", [])[:SKU_ROWS]
    if skus:
        lines += [
            "",
            "| SKU | Business unit | Pending | Stock | Short |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [
            f"| {_cell(s['sku'])} | {_cell(s['business_unit'])} | {s['pending']} | "
            f"{'?' if s['stock'] is None else s['stock']} | {s['short']} |"
            for s in skus
        ]
    lines += _corrections_table(found)
    sample = found["short"][:SAMPLE_IDS]
    if sample:
        more = len(found["short"]) - len(sample)
        lines += [
            "",
            "**Sample (order / item):** "
            + ", ".join(f"{e['order_id']} / {e['order_item_id']}" for e in sample)
            + (f", and {more} more" if more > 0 else ""),
        ]
    return lines + [""]


def _corrections_table(found: FoundPayload) -> list[str]:
    """The stock corrections planned (``correct_stock="lower"``): SKU, unit, from, to."""
    plan = found.get("stock_corrections")
    if not plan or not plan["entries"]:
        return []
    entries = plan["entries"]
    lines = [
        "",
        f"**Stock corrections:** {len(entries)} Seller Center figure(s) to lower to what the "
        "warehouse has (declared quantity; `<= n`: hidden by a figure of 0, decided again "
        "after the cancels)",
        "",
        "| SKU | Business unit | Warehouse | From | To |",
        "|---|---|---|---:|---:|",
    ]
    for e in entries[:SKU_ROWS]:
        before = e["declared"] if e["declared"] is not None else f"<= {e['reserved']}"
        lines.append(
            f"| {_cell(e['sku'])} | {_cell(e['business_unit'])} | "
            f"{_cell(warehouse_label(e['warehouse']))} | {before} | {e['target']} |"
        )
    if len(entries) > SKU_ROWS:
        lines.append(f"| ... and {len(entries) - SKU_ROWS} more | | | | |")
    return lines


def render_report(
    entries: Sequence[tuple[FoundPayload, ConnectionPlan]],
    *,
    mode: str,
    dry_run: bool,
    hitl_available: bool,
) -> str:
    """The report; empty when no connection has anything short."""
    if not entries:
        return ""
    short = sum(plan["short"] for _, plan in entries)
    fixes = sum(plan.get("corrections", 0) for _, plan in entries)
    also = f" and {fixes} stock figure(s) would be lowered" if fixes else ""
    tripped = [plan for _, plan in entries if plan["brake"]]
    if dry_run:
        if tripped and (mode == "never" or not hitl_available):
            then = "stop at the safety brake (cancel nothing) for the connections marked below"
        elif tripped or mode == "always":
            then = "ask a person to approve before canceling"
        else:
            then = "cancel them"
        head = (
            f"**Dry run: nothing was canceled.** {short} item(s) are short{also}; "
            f"a real run would {then}."
        )
    else:
        head = (
            f"**{short} order item(s) will be canceled with reason SHORTAGE"
            + (f", and {fixes} stock figure(s) lowered first," if fixes else "")
            + " if you approve.** "
            "Approve first reads the pending items and the stock again, and cancels only "
            "those of these items that are still short then (the others are reported "
            "no_longer_short; items short since this request wait for the next run). "
            "Reject, or no answer before the timeout, cancels nothing for them."
        )
    lines = ["## Seller Center cancellations", "", head, ""]
    for found, plan in entries[:CONNECTIONS_IN_DETAIL]:
        lines += _section(found, plan, mode)
    if len(entries) > CONNECTIONS_IN_DETAIL:
        lines.append(f"... and {len(entries) - CONNECTIONS_IN_DETAIL} more connection(s).")
    return "\n".join(lines).rstrip() + "\n"
