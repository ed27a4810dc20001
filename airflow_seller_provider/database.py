"""An Airflow connection's database hook (``DbApiHook``): the one lookup behind the SQL
stock source and the ledger, so both refuse a connection that is missing or is not a
database in the same words."""

from __future__ import annotations

from typing import Any

from airflow_seller_provider.compat import AirflowException, BaseHook


class NotADatabase(ValueError):
    """The connection is missing, gives no hook, or its hook is not a database hook."""


def database_hook(conn_id: str) -> tuple[Any, str]:
    """``(hook, conn_type)`` of the Airflow connection ``conn_id``; raises NotADatabase
    naming it and saying what to do."""
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowException as exc:
        raise NotADatabase(f"cannot read Airflow connection {conn_id!r} ({exc})") from exc
    conn_type = str(getattr(conn, "conn_type", None) or "")
    try:
        hook = conn.get_hook()
    except Exception as exc:  # unknown type, provider not installed, bad extras
        raise NotADatabase(
            f"connection {conn_id!r} of type {conn_type!r} gives no hook ({exc}); install the "
            "provider for that database or pick a database connection"
        ) from exc
    if not callable(getattr(hook, "get_records", None)) or not callable(
        getattr(hook, "get_conn", None)
    ):
        raise NotADatabase(
            f"connection {conn_id!r} is of type {conn_type!r}, whose hook "
            f"{type(hook).__name__} is not a database hook (no get_records); use a database "
            "connection (postgres, mysql, sqlite...)"
        )
    return hook, conn_type
