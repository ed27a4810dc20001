"""``seller-center-ledger``: read the ledger.

    seller-center-ledger explain --conn-id LEDGER_CONN [--table T] ORDER_ITEM_ID

prints that order item's story: each row (run, decision inputs, approval, outcome, times),
oldest first. Exit status 0 when found, 1 for an item the ledger does not know, 2 for a
ledger that cannot be read. The connection is Airflow's (``AIRFLOW_CONN_<ID>``, the
metadata DB, or a secrets backend), so run it where Airflow is configured.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from airflow_seller_provider.ledger.table import DEFAULT_TABLE, STOCK

FOUND, UNKNOWN, BROKEN = 0, 1, 2


def story(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of one item, told in order."""
    lines = []
    for n, row in enumerate(rows, 1):
        lines += [
            f"{n}. run {row['run_id']} on connection {row['seller_center_conn_id']}: "
            f"{row['outcome']}" + (f" ({row['error_code']})" if row.get("error_code") else ""),
            f"   order {row['order_id']}, item {row['order_item_id']}, SKU {row['sku']} in "
            f"{row['business_unit']}, package {row['package_id'] or '-'}",
            f"   decided from {row['stock_source']} (counting {row['stock_counts']}): figure "
            f"{row['figure']}, {row['ahead']} pending item(s) ahead of it",
            f"   approval: {row['approval'] or 'none asked'}"
            + (f" by {row['responded_by']}" if row.get("responded_by") else ""),
            f"   recorded {row['recorded_at']}, updated {row['updated_at']}"
            + (f"; {row['detail']}" if row.get("detail") else ""),
        ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seller-center-ledger", description="Read the short-stock ledger."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    explain = commands.add_parser("explain", help="an order item's story")
    explain.add_argument("--conn-id", required=True, help="the ledger's Airflow connection")
    explain.add_argument("--table", default=DEFAULT_TABLE, help=f"default {DEFAULT_TABLE}")
    explain.add_argument("order_item_id", type=int, help="the order item id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from airflow_seller_provider.ledger.store import Ledger, LedgerError

    try:
        rows = Ledger.open(args.conn_id, args.table).history(args.order_item_id)
    except LedgerError as exc:
        print(f"seller-center-ledger: {exc}", file=sys.stderr)
        return BROKEN
    rows = [r for r in rows if r["kind"] != STOCK]
    if not rows:
        print(
            f"seller-center-ledger: order item {args.order_item_id} is not in the ledger "
            f"{args.table} on {args.conn_id}",
            file=sys.stderr,
        )
        return UNKNOWN
    print(f"Order item {args.order_item_id}: {len(rows)} row(s) in {args.table}")
    print(story(rows))
    return FOUND


if __name__ == "__main__":
    sys.exit(main())
