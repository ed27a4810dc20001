"""The ledger in the seller's own database, through an Airflow connection's DbApiHook.

Every write is a transaction of its own, committed before the caller goes on: a batch's
``planned`` rows are in the database before its cancels are sent. Writing is an upsert on
the row's key (``table.KEY``): an UPDATE, then an INSERT when no row matched, which every
SQL database runs the same way (a task retry updates its rows, never duplicates them; the
unique key refuses a duplicate even if two writers raced).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from airflow_seller_provider.database import NotADatabase, database_hook
from airflow_seller_provider.ledger import table as t


class LedgerError(RuntimeError):
    """The ledger cannot be used; the message names the connection and the table."""


@dataclass
class Ledger:
    conn_id: str
    table: str
    hook: Any
    mark: str

    @classmethod
    def open(cls, conn_id: str, table: str = t.DEFAULT_TABLE) -> Ledger:
        """The ledger on the Airflow connection ``conn_id``; raises LedgerError when it is
        missing or not a database connection, or ``table`` is not a plain name."""
        try:
            name = t.check_table_name(table)
            hook, _ = database_hook(conn_id)
        except (NotADatabase, ValueError) as exc:
            raise LedgerError(f"ledger_conn_id {conn_id!r}: {exc}") from None
        mark = str(getattr(hook, "placeholder", None) or "%s")
        return cls(conn_id, name, hook, mark)

    def __repr__(self) -> str:  # never the hook (its connection holds a password)
        return f"Ledger(conn_id={self.conn_id!r}, table={self.table!r})"

    def _connect(self) -> Any:
        return closing(self.hook.get_conn())

    def ensure_table(self) -> bool:
        """Create the table and its index if missing; True when it was created."""
        with self._connect() as conn:
            if self._exists(conn):
                return False
            try:
                with closing(conn.cursor()) as cursor:
                    for statement in t.ddl(self.table):
                        cursor.execute(statement)
                conn.commit()
            except Exception as exc:
                conn.rollback()
                if self._exists(conn):  # another task created it meanwhile
                    return False
                raise LedgerError(
                    f"ledger {self.table!r} on {self.conn_id!r} could not be created: {exc}"
                ) from exc
            return True

    def _exists(self, conn: Any) -> bool:
        try:
            with closing(conn.cursor()) as cursor:
                cursor.execute(t.probe(self.table))
                cursor.fetchall()
            conn.commit()
            return True
        except Exception:
            conn.rollback()
            return False

    def write(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Upsert ``rows`` (each with the key columns, ``seller_center_conn_id`` and
        ``outcome``; other columns as known) in one transaction. An existing row gets the
        columns given (``recorded_at`` kept); a new one, NULL for the others. Returns the
        rows written; raises LedgerError when the database refuses (nothing is written)."""
        rows = list(rows)
        if not rows:
            return 0
        now = t.now_text()
        insert = t.insert_row(self.table, self.mark)
        with self._connect() as conn:
            try:
                with closing(conn.cursor()) as cursor:
                    for row in rows:
                        values = {**row, "updated_at": now}
                        fields = tuple(
                            n for n in t.NAMES if n in values and n not in (*t.KEY, *t.KEPT)
                        )
                        cursor.execute(
                            t.update_row(self.table, self.mark, fields),
                            [values[n] for n in fields] + [values[n] for n in t.KEY],
                        )
                        if cursor.rowcount == 0:
                            full = {"recorded_at": now, **values}
                            cursor.execute(insert, [full.get(n) for n in t.NAMES])
                conn.commit()
            except Exception as exc:
                conn.rollback()
                raise LedgerError(
                    f"ledger {self.table!r} on {self.conn_id!r}: writing {len(rows)} row(s) "
                    f"failed ({type(exc).__name__}: {exc})"
                ) from exc
        return len(rows)

    def _select(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self._connect() as conn:
            try:
                with closing(conn.cursor()) as cursor:
                    cursor.execute(sql, list(params))
                    found = cursor.fetchall()
                conn.commit()
            except Exception as exc:
                conn.rollback()
                raise LedgerError(
                    f"ledger {self.table!r} on {self.conn_id!r}: reading failed "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
        return [dict(zip(t.NAMES, r, strict=True)) for r in found]

    def history(self, order_item_id: int) -> list[dict[str, Any]]:
        """Every row of one order item, oldest first."""
        return self._select(t.select_item(self.table, self.mark), [order_item_id])

    def planned(self, conn_id: str) -> list[dict[str, Any]]:
        """One connection's rows still ``planned`` (any run)."""
        return self._select(t.select_planned(self.table, self.mark), [conn_id])

    def run_rows(self, run_id: str) -> list[dict[str, Any]]:
        """Every row of one run."""
        return self._select(t.select_run(self.table, self.mark), [run_id])

    def unsettled(self, conn_id: str, since: str) -> list[dict[str, Any]]:
        """One connection's rows ``planned`` (any run), or ``failed`` since ``since`` (UTC
        ISO text): those a look at the API may settle."""
        return self._select(t.select_unsettled(self.table, self.mark), [conn_id, since])

    def run_unsettled(self, run_id: str) -> list[dict[str, Any]]:
        """One run's rows ``planned`` or ``failed``."""
        return self._select(t.select_run_unsettled(self.table, self.mark), [run_id])
