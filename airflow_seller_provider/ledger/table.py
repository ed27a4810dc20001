"""The ledger's table: its columns, portable DDL, and the statements that write and read it.

One row per item a run decided to cancel (``kind`` ``cancel``) and per Seller Center stock
figure it acted on (``kind`` ``stock``). A row's key is (``run_id``, ``kind``,
``item_key``): ``item_key`` is the order item id of a cancel row and
``<connection>/<unit>/<sku>`` of a stock row, so (``run_id``, ``order_item_id``, ``kind``) is
unique for cancel rows. Times are UTC ISO-8601 text (``2026-12-06T05:37:24.000000Z``): every
database stores and sorts them alike, and ``substr(recorded_at, 1, 10)`` is the day.

Plain DB-API: the statements take the hook's placeholder (``?`` for SQLite, ``%s`` for
PostgreSQL and MySQL); the DDL uses only types every SQL database has.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

CANCEL, STOCK = "cancel", "stock"
KINDS = (CANCEL, STOCK)
DEFAULT_TABLE = "seller_center_ledger"

# What decided a row's approval.
AUTO, APPROVED, REJECTED, TIMED_OUT = "auto", "approved", "rejected", "timed_out"
# Outcomes of cancel rows; stock rows end as the corrections do (lowered, unchanged...).
PLANNED = "planned"
NOT_SENT = "not_sent"
"""Never sent: still pending when a later run settled it (that run plans it again under its
own id if it is still short), or its approval was refused or not given."""
CANCEL_OUTCOMES = (
    PLANNED,
    "canceled",
    "already_canceled",
    "no_longer_pending",
    "failed",
    "would_cancel",
    "no_longer_short",
    NOT_SENT,
)

COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR(250) NOT NULL"),
    ("seller_center_conn_id", "VARCHAR(250) NOT NULL"),
    ("kind", "VARCHAR(16) NOT NULL"),
    ("item_key", "VARCHAR(600) NOT NULL"),
    ("business_unit", "VARCHAR(8)"),
    ("sku", "VARCHAR(255)"),
    ("order_id", "BIGINT"),
    ("order_item_id", "BIGINT"),
    ("package_id", "VARCHAR(255)"),
    ("stock_source", "VARCHAR(1000)"),
    ("stock_counts", "VARCHAR(16)"),
    ("figure", "INTEGER"),
    ("ahead", "INTEGER"),
    ("from_quantity", "INTEGER"),
    ("to_quantity", "INTEGER"),
    ("approval", "VARCHAR(16)"),
    ("responded_by", "VARCHAR(250)"),
    ("outcome", "VARCHAR(32) NOT NULL"),
    ("error_code", "VARCHAR(32)"),
    ("detail", "VARCHAR(1000)"),
    ("recorded_at", "VARCHAR(32) NOT NULL"),
    ("updated_at", "VARCHAR(32) NOT NULL"),
)
NAMES = tuple(name for name, _ in COLUMNS)
KEY = ("run_id", "kind", "item_key")
KEPT = ("recorded_at",)
"""Columns an upsert of an existing row leaves as they are."""

TABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$"
_IDENTIFIER = re.compile(TABLE_PATTERN)


def check_table_name(name: object) -> str:
    """``name`` if it is a plain table name (``[schema.]table``, letters, digits and ``_``):
    it is written into SQL, so nothing else is accepted."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name.strip()):
        raise ValueError(
            f"ledger_table {name!r} is not a plain table name: use letters, digits and _ "
            "(optionally schema.table), e.g. seller_center_ledger"
        )
    return name.strip()


def utc_text(moment: datetime) -> str:
    """A time as the ledger stores it: UTC, ISO-8601 text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_text() -> str:
    return utc_text(datetime.now(UTC))


def ddl(table: str) -> list[str]:
    """CREATE TABLE with the key's UNIQUE constraint, and the index on order_item_id."""
    bare = table.rsplit(".", 1)[-1]
    columns = ",\n    ".join(f"{name} {kind}" for name, kind in COLUMNS)
    return [
        f"CREATE TABLE {table} (\n    {columns},\n"
        f"    CONSTRAINT {bare}_key UNIQUE ({', '.join(KEY)})\n)",
        f"CREATE INDEX {bare}_order_item ON {table} (order_item_id)",
    ]


def probe(table: str) -> str:
    return f"SELECT 1 FROM {table} WHERE 1 = 0"


def update_row(table: str, mark: str, fields: tuple[str, ...]) -> str:
    """UPDATE ``fields`` of the row with the key (the key's values come last)."""
    sets = ", ".join(f"{name} = {mark}" for name in fields)
    where = " AND ".join(f"{name} = {mark}" for name in KEY)
    return f"UPDATE {table} SET {sets} WHERE {where}"


def insert_row(table: str, mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(NAMES)}) VALUES ({', '.join([mark] * len(NAMES))})"


def select_item(table: str, mark: str) -> str:
    return (
        f"SELECT {', '.join(NAMES)} FROM {table} WHERE order_item_id = {mark} "
        "ORDER BY recorded_at, run_id, kind"
    )


def select_planned(table: str, mark: str) -> str:
    """Rows of one connection still ``planned``."""
    return (
        f"SELECT {', '.join(NAMES)} FROM {table} WHERE seller_center_conn_id = {mark} "
        f"AND outcome = '{PLANNED}' ORDER BY recorded_at"
    )


UNSETTLED = (PLANNED, "failed")
"""Outcomes a later look at the API may settle: ``planned`` (never answered), and
``failed`` (an answer lost on the way may hide a cancel the API made)."""


def select_unsettled(table: str, mark: str) -> str:
    """Rows of one connection ``planned``, or ``failed`` and recorded since a time."""
    return (
        f"SELECT {', '.join(NAMES)} FROM {table} WHERE seller_center_conn_id = {mark} "
        f"AND (outcome = '{PLANNED}' OR (outcome = 'failed' AND recorded_at >= {mark})) "
        "ORDER BY recorded_at"
    )


def select_run(table: str, mark: str) -> str:
    return f"SELECT {', '.join(NAMES)} FROM {table} WHERE run_id = {mark} ORDER BY recorded_at"


def select_run_unsettled(table: str, mark: str) -> str:
    """Rows of one run ``planned`` or ``failed``."""
    return (
        f"SELECT {', '.join(NAMES)} FROM {table} WHERE run_id = {mark} "
        f"AND outcome IN ('{PLANNED}', 'failed') ORDER BY recorded_at"
    )


def stock_key(conn_id: str, business_unit: str, sku: str) -> str:
    return f"{conn_id}/{business_unit}/{sku}"
