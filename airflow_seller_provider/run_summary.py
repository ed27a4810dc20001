"""The example DAG's closing report: counts and ids, and whether the run must fail."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, cast

from airflow_seller_provider.payloads import (
    CollateralItem,
    FailedItem,
    FoundPayload,
    OutcomePayload,
    PlanEntry,
    Summary,
    SummaryIds,
)

log = logging.getLogger(__name__)


def _outcomes(value: Any) -> list[OutcomePayload]:
    """The cancel tasks' outcomes as XCom gives them (untyped JSON): one, a list (mapped
    tasks), or none."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [cast("OutcomePayload", o) for o in value if isinstance(o, dict)]
    return []


def empty_summary() -> Summary:
    ids: SummaryIds = {
        "short": [],
        "canceled": [],
        "already_canceled": [],
        "no_longer_pending": [],
        "would_cancel": [],
        "failed": [],
        "collateral_canceled": [],
    }
    return {
        "pending": 0,
        "short": 0,
        "unknown_stock": 0,
        "unknown_shipping": 0,
        "no_business_unit": 0,
        "canceled": 0,
        "already_canceled": 0,
        "no_longer_pending": 0,
        "would_cancel": 0,
        "failed": 0,
        "collateral_canceled": 0,
        "short_by_unit": {},
        "stock": {},
        "cancel_scope": None,
        "note": None,
        "ids": ids,
        "failures": [],
        "collateral": [],
    }


def summary_line(summary: Summary) -> str:
    """``pending=.. short=.. canceled=.. ... short_FACL=..``: one line to read and grep."""
    counts = {
        "pending": summary["pending"],
        "short": summary["short"],
        "canceled": summary["canceled"],
        "already_canceled": summary["already_canceled"],
        "no_longer_pending": summary["no_longer_pending"],
        "would_cancel": summary["would_cancel"],
        "failed": summary["failed"],
        "unknown_stock": summary["unknown_stock"],
        "unknown_shipping": summary["unknown_shipping"],
        "no_business_unit": summary["no_business_unit"],
        "collateral_canceled": summary["collateral_canceled"],
    }
    parts = [f"{name}={value}" for name, value in counts.items()]
    parts += [f"short_{unit}={count}" for unit, count in sorted(summary["short_by_unit"].items())]
    return " ".join(parts)


def build_summary(
    found: FoundPayload | None,
    plan: list[PlanEntry] | None,
    outcomes: Any,
) -> tuple[Summary, str | None]:
    """Merge the find step, the plan and the cancel tasks' outcomes.

    An item the plan sent to a cancel task that reported no outcome (the task died before
    its end) counts as failed with code ``NO_OUTCOME``: nothing is silently lost.
    """
    summary = empty_summary()
    ids = summary["ids"]
    if found is None:
        return summary, "The find step did not finish: nothing was canceled. See its log."
    ids["short"] = [entry["order_item_id"] for entry in found["short"]]
    summary["pending"] = found["pending"]
    summary["short"] = len(ids["short"])
    summary["unknown_stock"] = found["unknown_stock"]
    summary["unknown_shipping"] = found["unknown_shipping"]
    summary["no_business_unit"] = found["no_business_unit"]
    summary["short_by_unit"] = dict(found["short_by_unit"])
    summary["stock"] = found["stock"]
    summary["cancel_scope"] = found["cancel_scope"]
    summary["note"] = found["note"]
    if summary["note"]:
        log.warning("%s", summary["note"])
    if plan is None:
        return summary, (
            "The plan step failed (safety brake or error): nothing was canceled. See its log."
        )
    planned = {entry["order_item_id"] for batch in plan for entry in batch["order_item_id"]}
    reported: set[int] = set()
    failures: list[FailedItem] = summary["failures"]
    collateral: list[CollateralItem] = summary["collateral"]
    for outcome in _outcomes(outcomes):
        # .get: an outcome written by an older version of the operator lacks newer keys.
        done = (
            outcome.get("canceled", []),
            outcome.get("already_canceled", []),
            outcome.get("no_longer_pending", []),
            outcome.get("would_cancel", []),
        )
        ids["canceled"] += done[0]
        ids["already_canceled"] += done[1]
        ids["no_longer_pending"] += done[2]
        ids["would_cancel"] += done[3]
        reported.update(*done)
        for failure in outcome.get("failed", []):
            failures.append(failure)
            reported.add(failure["order_item_id"])
        collateral.extend(outcome.get("collateral_canceled", []))
    for missing in sorted(planned - reported):
        failures.append(
            {
                "order_item_id": missing,
                "code": "NO_OUTCOME",
                "message": "its cancel task ended without reporting; see that task's log",
            }
        )
    ids["failed"] = sorted(f["order_item_id"] for f in failures)
    ids["collateral_canceled"] = sorted({c["order_item_id"] for c in collateral})
    ids["canceled"].sort()
    ids["already_canceled"].sort()
    ids["no_longer_pending"].sort()
    ids["would_cancel"].sort()
    summary["canceled"] = len(ids["canceled"])
    summary["already_canceled"] = len(ids["already_canceled"])
    summary["no_longer_pending"] = len(ids["no_longer_pending"])
    summary["would_cancel"] = len(ids["would_cancel"])
    summary["failed"] = len(ids["failed"])
    summary["collateral_canceled"] = len(ids["collateral_canceled"])
    log.info("Summary: %s", summary_line(summary))
    if summary["collateral_canceled"]:
        log.warning(
            "%d item(s) were canceled with their package although the plan did not name "
            "them: %s. Set the connection's extra cancel_scope=package.",
            summary["collateral_canceled"],
            ", ".join(map(str, ids["collateral_canceled"][:50])),
        )
    problem = None
    if summary["failed"]:
        listed = ", ".join(f"{f['order_item_id']} ({f.get('code')})" for f in failures[:50])
        problem = f"{summary['failed']} order item(s) failed: {listed}"
        log.error(problem)
    return summary, problem
