"""The bodies of the group's steps that more than one task runs: the settings a running
task works with, and one connection's find (the find task, and the re-decision after an
approval)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.compat import HITL_AVAILABLE, AirflowFailException
from airflow_seller_provider.short_stock.payloads import FoundPayload


def task_settings(author: Mapping[str, Any], context: Any) -> tuple[dict[str, Any], list[str]]:
    """The running task's settings and connections: the author's, changed only as the run
    may change them (``run_policy``), from its params and its conf. A conf that asks for
    more, or a bad value, fails the task without retries, before any request (the plan and
    summary steps run ``all_done``, so they meet it too)."""
    from airflow_seller_provider.short_stock.plan import run_connections
    from airflow_seller_provider.short_stock.run_policy import run_settings

    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    asked = {**dict(context["params"]), **(conf if isinstance(conf, dict) else {})}
    try:
        settings = run_settings(author, asked, hitl_available=HITL_AVAILABLE)
        return settings, run_connections(settings, hitl_available=HITL_AVAILABLE)
    except ValueError as exc:  # SettingsError, ApprovalUnavailable
        raise AirflowFailException(str(exc)) from None


def find_for(seller_center_conn_id: str, settings: Mapping[str, Any]) -> FoundPayload:
    """Scan one connection, read its stock, apply the rule: its find payload."""
    from airflow_seller_provider.client.errors import SellerCenterError
    from airflow_seller_provider.hooks.seller_center import SellerCenterHook
    from airflow_seller_provider.short_stock.find import find_short, found_payload
    from airflow_seller_provider.short_stock.stock_sources import StockSourceError

    hook = SellerCenterHook(seller_center_conn_id)
    try:
        result = find_short(
            hook.get_conn(),
            lookback_days=int(settings["lookback_days"]),
            max_concurrency=int(settings["max_concurrency"] or DEFAULT_MAX_CONCURRENCY),
            stock_counts=settings["stock_counts"] or None,
            cancel_scope=hook.cancel_scope(),
            stock_source=settings["stock_source"] or None,
            stock_conn_id=settings["stock_conn_id"] or None,
            stock_sql=settings["stock_sql"] or None,
        )
    except StockSourceError as exc:
        raise AirflowFailException(str(exc)) from None
    except SellerCenterError as exc:
        if exc.retryable:
            raise
        # A bad key or a refused call: a retry would fail the same way.
        raise AirflowFailException(str(exc)) from None
    return found_payload(result, hook.cancel_scope(), seller_center_conn_id)
