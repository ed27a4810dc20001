"""The example DAG's closing report: counts and ids, and whether the run must fail."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

COUNTED = ("canceled", "already_canceled", "no_longer_pending", "would_cancel")
# Counts the find step reports as they are: items never canceled, and why.
FOUND_COUNTS = ("unknown_stock", "unknown_shipping", "no_business_unit")


def _as_list(outcomes: Any) -> list[dict[str, Any]]:
    if outcomes is None:
        return []
    if isinstance(outcomes, dict):
        return [outcomes]
    if isinstance(outcomes, Iterable) and not isinstance(outcomes, str | bytes):
        return [o for o in outcomes if isinstance(o, dict)]
    return []


def summary_line(summary: dict[str, Any]) -> str:
    """``pending=.. short=.. canceled=.. ... short_FACL=..``: one line to read and grep."""
    names = ("pending", "short", *COUNTED, "failed", *FOUND_COUNTS, "collateral_canceled")
    parts = [f"{name}={summary[name]}" for name in names]
    parts += [f"short_{unit}={count}" for unit, count in sorted(summary["short_by_unit"].items())]
    return " ".join(parts)


def build_summary(
    found: dict[str, Any] | None,
    plan: list[dict[str, Any]] | None,
    outcomes: Any,
) -> tuple[dict[str, Any], str | None]:
    """Merge the find step, the plan and the cancel tasks' outcomes.

    An item the plan sent to a cancel task that reported no outcome (the task died before
    its end) counts as failed with code ``NO_OUTCOME``: nothing is silently lost.
    """
    summary: dict[str, Any] = {
        "pending": 0,
        "short": 0,
        **{name: 0 for name in FOUND_COUNTS},
        **{name: 0 for name in COUNTED},
        "failed": 0,
        "collateral_canceled": 0,
        "short_by_unit": {},
        "stock": {},
        "cancel_scope": None,
        "note": None,
        "ids": {
            "short": [],
            **{name: [] for name in COUNTED},
            "failed": [],
            "collateral_canceled": [],
        },
        "failures": [],
        "collateral": [],
    }
    if found is None:
        return summary, "The find step did not finish: nothing was canceled. See its log."
    short_ids = [entry["order_item_id"] for entry in found.get("short", [])]
    summary.update(
        pending=found.get("pending", 0),
        short=len(short_ids),
        **{name: found.get(name, 0) for name in FOUND_COUNTS},
        short_by_unit=dict(found.get("short_by_unit") or {}),
        stock=dict(found.get("stock") or {}),
        cancel_scope=found.get("cancel_scope"),
        note=found.get("note"),
    )
    if summary["note"]:
        log.warning("%s", summary["note"])
    summary["ids"]["short"] = short_ids
    if plan is None:
        return summary, (
            "The plan step failed (safety brake or error): nothing was canceled. See its log."
        )
    planned = {entry["order_item_id"] for batch in plan for entry in batch["order_item_id"]}
    reported: set[int] = set()
    for outcome in _as_list(outcomes):
        for name in COUNTED:
            ids = outcome.get(name, [])
            summary["ids"][name].extend(ids)
            reported.update(ids)
        for failure in outcome.get("failed", []):
            summary["failures"].append(failure)
            reported.add(failure["order_item_id"])
        summary["collateral"].extend(outcome.get("collateral_canceled", []))
    for missing in sorted(planned - reported):
        summary["failures"].append(
            {
                "order_item_id": missing,
                "code": "NO_OUTCOME",
                "message": "its cancel task ended without reporting; see that task's log",
            }
        )
    summary["ids"]["failed"] = sorted(f["order_item_id"] for f in summary["failures"])
    summary["ids"]["collateral_canceled"] = sorted(
        {c["order_item_id"] for c in summary["collateral"]}
    )
    for name in (*COUNTED, "failed", "collateral_canceled"):
        summary["ids"][name] = sorted(summary["ids"][name])
        summary[name] = len(summary["ids"][name])
    log.info("Summary: %s", summary_line(summary))
    if summary["collateral_canceled"]:
        log.warning(
            "%d item(s) were canceled with their package although the plan did not name "
            "them: %s. Set the connection's extra cancel_scope=package.",
            summary["collateral_canceled"],
            ", ".join(map(str, summary["ids"]["collateral_canceled"][:50])),
        )
    problem = None
    if summary["failed"]:
        listed = ", ".join(
            f"{f['order_item_id']} ({f.get('code')})" for f in summary["failures"][:50]
        )
        problem = f"{summary['failed']} order item(s) failed: {listed}"
        log.error(problem)
    return summary, problem
