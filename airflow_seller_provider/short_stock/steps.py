"""The bodies of the group's steps that more than one task runs: the settings a running
task works with, and one connection's find (the find task, and the re-decision after an
approval)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.compat import HITL_AVAILABLE, AirflowFailException
from airflow_seller_provider.short_stock.payloads import FoundPayload
from airflow_seller_provider.short_stock.stock_correction import (
    CORRECT_LOWER,
    CorrectionOutcome,
    StockCorrection,
)

log = logging.getLogger(__name__)


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


def ledger_for(settings: Mapping[str, Any]) -> Any:
    """The run's ledger (``ledger_conn_id``), or None; one that cannot be opened fails the
    task, naming it."""
    from airflow_seller_provider.ledger.store import LedgerError
    from airflow_seller_provider.short_stock.records import open_ledger

    try:
        return open_ledger(settings)
    except LedgerError as exc:
        raise AirflowFailException(str(exc)) from None


def find_for(
    seller_center_conn_id: str, settings: Mapping[str, Any], run_id: str | None = None
) -> FoundPayload:
    """Scan one connection, read its stock, apply the rule: its find payload. With a
    ledger, first settle the rows earlier runs left ``planned`` for this connection
    (``records``), and hand on what decided each short item."""
    from airflow_seller_provider.client.errors import SellerCenterError
    from airflow_seller_provider.hooks.seller_center import SellerCenterHook
    from airflow_seller_provider.short_stock.find import decided_items, find_short, found_payload
    from airflow_seller_provider.short_stock.stock_correction import plan_corrections, read_rows
    from airflow_seller_provider.short_stock.stock_sources import StockSourceError

    hook = SellerCenterHook(seller_center_conn_id)
    correcting = settings.get("correct_stock") == CORRECT_LOWER
    try:
        # Read (and check) the connection's warehouses before any request.
        warehouses = hook.warehouses() if correcting else {}
    except ValueError as exc:  # ConnectionConfigError
        raise AirflowFailException(str(exc)) from None
    try:
        _settle_earlier_runs(hook, settings, run_id)
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
        corrections = None
        if correcting:
            client = hook.get_conn()
            rows = read_rows(client, {sku for _, sku in result.decision.on_hand})
            corrections = plan_corrections(
                result.decision, rows, warehouses=warehouses, default_unit=client.business_unit
            )
    except StockSourceError as exc:
        raise AirflowFailException(str(exc)) from None
    except SellerCenterError as exc:
        if exc.retryable:
            raise
        # A bad key or a refused call: a retry would fail the same way.
        raise AirflowFailException(str(exc)) from None
    payload = found_payload(result, hook.cancel_scope(), seller_center_conn_id)
    if corrections is not None:
        payload["stock_corrections"] = corrections
    if settings.get("ledger_conn_id"):
        payload["decided"] = decided_items(result.decision, result.stock)
    return payload


def _settle_earlier_runs(hook: Any, settings: Mapping[str, Any], run_id: str | None) -> None:
    """Rows other runs left ``planned`` for this connection (or ``failed`` within the
    lookback window), settled from the API's state (``records.settle``) before this run
    decides anything."""
    from airflow_seller_provider.ledger.store import LedgerError
    from airflow_seller_provider.ledger.table import utc_text
    from airflow_seller_provider.short_stock.records import settle

    ledger = ledger_for(settings)
    if ledger is None:
        return
    since = utc_text(datetime.now(UTC) - timedelta(days=int(settings["lookback_days"])))
    try:
        rows = ledger.unsettled(hook.seller_center_conn_id, since)
    except LedgerError as exc:
        raise AirflowFailException(str(exc)) from None
    left = [r for r in rows if r["run_id"] != run_id]
    settled = settle(ledger, hook.get_conn(), left) if left else []
    if settled:
        log.warning(
            "Ledger: %d row(s) earlier runs left unsettled for %s, settled from the API: %s",
            len(settled),
            hook.seller_center_conn_id,
            dict(Counter(r["outcome"] for r in settled)),
        )


def correct_for(
    seller_center_conn_id: str,
    entries: Sequence[StockCorrection],
    *,
    phase: str,
    dry_run: bool,
    ledger: Any = None,
    run_id: str = "",
    approval: str | None = None,
) -> tuple[list[CorrectionOutcome], list[StockCorrection]]:
    """One connection's stock corrections (``stock_correction.apply_corrections``); a
    connection that cannot be used fails its entries, never the others'. With a ``ledger``
    their rows are written ``planned`` first (a ledger that cannot be written stops them:
    LedgerError) and with their outcomes after."""
    from airflow_seller_provider.short_stock.records import stock_rows

    if ledger is not None and entries:
        ledger.write(stock_rows(run_id, seller_center_conn_id, entries, approval=approval))
    from airflow_seller_provider.hooks.seller_center import SellerCenterHook
    from airflow_seller_provider.metrics import record_stock_corrections
    from airflow_seller_provider.short_stock.stock_correction import (
        FAILED,
        apply_corrections,
        failed_outcomes,
    )

    try:
        client = SellerCenterHook(seller_center_conn_id).get_conn()
        outcomes, deferred = apply_corrections(client, entries, phase=phase, dry_run=dry_run)
    except (ValueError, TypeError) as exc:  # the connection's own configuration
        outcomes, deferred = failed_outcomes(entries, str(exc)), []
    failed = sum(o["outcome"] == FAILED for o in outcomes)
    log.info(
        "Stock corrections of %s (%s the cancels): %d outcome(s), %d failed, %d deferred",
        seller_center_conn_id,
        phase,
        len(outcomes),
        failed,
        len(deferred),
    )
    record_stock_corrections(seller_center_conn_id, outcomes)
    if ledger is not None:
        ledger.write(stock_rows(run_id, seller_center_conn_id, outcomes, approval=approval))
    return outcomes, deferred
