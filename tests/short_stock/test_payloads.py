"""The XCom payloads have one declared shape each; what the code builds matches it."""

from __future__ import annotations

from typing import get_type_hints

import pytest

from airflow_seller_provider.operators.outcomes import Outcome, OutcomePayload, outcome_payload
from airflow_seller_provider.short_stock.find import ScanResult, found_payload
from airflow_seller_provider.short_stock.payloads import FoundPayload, PlanEntry, Summary
from airflow_seller_provider.short_stock.plan import SafetyBrake, plan_batches
from airflow_seller_provider.short_stock.summary import build_summary

PARAMS = {
    "max_cancellations": 500,
    "max_cancel_fraction": 0.5,
    "fraction_min_items": 20,
    "dry_run": False,
    "reason_detail": "Out of stock",
    "seller_center_conn_id": "seller_center_default",
    "max_concurrency": 4,
    "batch_size": 2,
}


def keys(typed) -> set[str]:
    return set(get_type_hints(typed))


def found_with(short: list[tuple[int, int]], pending: int = 10) -> FoundPayload:
    found = found_payload(ScanResult(), "item")
    found["short"] = [{"order_item_id": i, "order_id": o} for i, o in short]
    found["pending"] = pending
    return found


def test_each_payload_has_exactly_its_declared_keys():
    found = found_with([(1, 10), (2, 10), (3, 11)])
    # stock_corrections and decided: only with correct_stock="lower" or a ledger.
    assert set(found) == keys(FoundPayload) - {"stock_corrections", "decided"}
    plan = plan_batches(found, PARAMS)
    assert plan and all(set(entry) == keys(PlanEntry) for entry in plan)
    outcome = outcome_payload([Outcome(1, "canceled"), Outcome(2, "failed", "E020")], dry_run=False)
    # no_longer_short: only an approval's re-decision writes it (NotRequired).
    assert set(outcome) == keys(OutcomePayload) - {"no_longer_short"}
    summary, _ = build_summary(found, plan, [outcome])
    assert set(summary) == keys(Summary) - {"stock_corrections"}


def test_the_summary_reads_what_the_steps_wrote():
    found = found_with([(1, 10), (2, 10), (3, 11)])
    plan = plan_batches(found, PARAMS)
    # A batch never splits an order: items 1 and 2 (order 10) go together.
    assert [[e["order_item_id"] for e in b["order_item_id"]] for b in plan] == [[1, 2], [3]]
    outcomes = [
        outcome_payload(
            [Outcome(1, "canceled"), Outcome(2, "no_longer_pending", "shipped")], dry_run=False
        ),
        outcome_payload([Outcome(3, "failed", "E021", "try again", retryable=True)], dry_run=False),
    ]
    summary, problem = build_summary(found, plan, outcomes)
    assert (summary["short"], summary["canceled"], summary["no_longer_pending"]) == (3, 1, 1)
    assert summary["failed"] == 1 and problem and "3 (E021)" in problem


def test_the_brake_stops_the_plan():
    with pytest.raises(SafetyBrake, match="max_cancellations=1"):
        plan_batches(found_with([(1, 10), (2, 11)]), {**PARAMS, "max_cancellations": 1})
