"""The example DAG's closing report: counts and ids, and whether the run must fail."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from airflow_seller_provider.operators.outcomes import (
    TIMED_OUT,
    CollateralItem,
    FailedItem,
    OutcomePayload,
)
from airflow_seller_provider.short_stock.payloads import (
    ConnectionSummary,
    Counts,
    FoundPayload,
    PlanEntry,
    RunPlan,
    StockCorrectionSummary,
    Summary,
    SummaryIds,
    xcom_dicts,
)
from airflow_seller_provider.short_stock.plan import held_connections
from airflow_seller_provider.short_stock.stock_correction import (
    OUTCOMES,
    CorrectionOutcome,
    skipped_outcomes,
)

log = logging.getLogger(__name__)


def _outcomes(value: Any) -> list[OutcomePayload]:
    """The cancel tasks' outcomes as XCom gives them (untyped JSON)."""
    return [cast("OutcomePayload", o) for o in xcom_dicts(value)]


def empty_summary() -> Summary:
    ids: dict[str, list[int]] = {name: [] for name in ID_LISTS}
    return cast(
        "Summary",
        {
            **dict.fromkeys(COUNTED, 0),
            "short_by_unit": {},
            "stock": {},
            "cancel_scope": None,
            "note": None,
            "ids": ids,
            "failures": [],
            "collateral": [],
            "connections": {},
            "approval": None,
            "report": None,
        },
    )


COUNTED = (
    "pending",
    "short",
    "canceled",
    "already_canceled",
    "no_longer_pending",
    "would_cancel",
    "failed",
    "unknown_stock",
    "unknown_shipping",
    "no_business_unit",
    "collateral_canceled",
    "no_longer_short",
)
"""The integer counts of ``payloads.Counts``, in the order the summary line shows them."""
ID_LISTS = tuple(SummaryIds.__annotations__)
"""The id lists of a summary (``SummaryIds``)."""


def summary_line(summary: Counts) -> str:
    """``pending=.. short=.. canceled=.. ... short_FACL=..``: one line to read and grep."""
    counts = cast("dict[str, Any]", summary)
    parts = [f"{name}={counts[name]}" for name in COUNTED]
    parts += [f"short_{unit}={count}" for unit, count in sorted(summary["short_by_unit"].items())]
    return " ".join(parts)


def build_summary(
    found: FoundPayload | None,
    plan: list[PlanEntry] | None,
    outcomes: Any,
    *,
    log_counts: bool = True,
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
            outcome.get("no_longer_short", []),
        )
        ids["canceled"] += done[0]
        ids["already_canceled"] += done[1]
        ids["no_longer_pending"] += done[2]
        ids["would_cancel"] += done[3]
        ids["no_longer_short"] += done[4]
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
    ids["no_longer_short"].sort()
    summary["no_longer_short"] = len(ids["no_longer_short"])
    summary["canceled"] = len(ids["canceled"])
    summary["already_canceled"] = len(ids["already_canceled"])
    summary["no_longer_pending"] = len(ids["no_longer_pending"])
    summary["would_cancel"] = len(ids["would_cancel"])
    summary["failed"] = len(ids["failed"])
    summary["collateral_canceled"] = len(ids["collateral_canceled"])
    if log_counts:
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


def approval_decision(answer: Any) -> tuple[str | None, str | None]:
    """(decision, responder) from the approval task's ``decision`` XCom, if any."""
    if isinstance(answer, dict):
        decision, who = answer.get("decision"), answer.get("responded_by")
        return (str(decision) if decision else None), (str(who) if who else None)
    return None, None


def approval_decisions(answers: Any) -> dict[str, tuple[str | None, str | None]]:
    """Per connection, (decision, responder) from the mapped approval task's ``decision``
    XComs (one per held connection that was asked)."""
    found: dict[str, tuple[str | None, str | None]] = {}
    for answer in xcom_dicts(answers):
        conn_id = answer.get("seller_center_conn_id")
        if conn_id:
            found[str(conn_id)] = approval_decision(answer)
    return found


def _connection_summary(summary: Summary, status: str, problem: str | None) -> ConnectionSummary:
    counts = cast("dict[str, Any]", summary)
    return cast(
        "ConnectionSummary",
        {
            **{name: counts[name] for name in COUNTED},
            "short_by_unit": summary["short_by_unit"],
            "status": status,
            "problem": problem,
        },
    )


def build_run_summary(
    founds: Any,
    run_plan: RunPlan | None,
    outcomes: Any,
    *,
    conn_ids: list[str],
    decision: str | None = None,
    responded_by: str | None = None,
    decisions: dict[str, tuple[str | None, str | None]] | None = None,
    skipped: dict[str, str] | None = None,
) -> tuple[Summary, str | None]:
    """The run's summary over every connection, and why the run must fail (or None).

    Each connection is summarised on its own (``build_summary``), from its find payload,
    the batches that were to run for it and its cancel tasks' outcomes; the top-level
    counts and ids are their totals. A connection whose find step failed, whose brake
    stopped it, whose approval was refused or not given, or whose items failed, is named
    in the problem; the others' results stand. ``decisions`` holds each held connection's
    answer (``decision``/``responded_by``: one answer for all of them); ``skipped``, the
    connections another run held (not a failure: that run serves them).
    """
    by_conn: dict[str, FoundPayload] = {}
    for payload in xcom_dicts(founds):
        found_payload = cast("FoundPayload", payload)
        by_conn[found_payload.get("seller_center_conn_id") or conn_ids[0]] = found_payload
    total = empty_summary()
    if run_plan is None:
        for conn_id in conn_ids:
            total["connections"][conn_id] = _connection_summary(
                empty_summary(), "find_failed" if conn_id not in by_conn else "plan_failed", None
            )
        return total, "The plan step did not finish: nothing was canceled. See its log."
    approval = run_plan["approval"]
    answers = dict(decisions or {})
    held_ids = held_connections(run_plan["connections"])
    for conn_id in held_ids:
        answers.setdefault(conn_id, (decision, responded_by))
    if approval["required"]:
        first = answers[held_ids[0]] if held_ids else (decision, responded_by)
        total["approval"] = {
            "required": True,
            "decision": first[0],
            "responded_by": first[1],
            "items": approval["items"],
            "decisions": {c: {"decision": d, "responded_by": r} for c, (d, r) in answers.items()},
        }
    total["report"] = approval["report"] or None
    per_outcome: dict[str, list[OutcomePayload]] = {}
    for outcome in _outcomes(outcomes):
        per_outcome.setdefault(outcome.get("seller_center_conn_id") or conn_ids[0], []).append(
            outcome
        )
    problems: list[str] = []
    for plan in run_plan["connections"]:
        conn_id = plan["seller_center_conn_id"]
        found = by_conn.get(conn_id)
        status, problem = plan["status"], plan["problem"]
        batches = [b for b in run_plan["auto"] if b["seller_center_conn_id"] == conn_id]
        conn_decision = answers.get(conn_id, (None, None))[0]
        approved = conn_decision == "approved"
        if status == "held":
            if approved:
                batches = [b for b in run_plan["held"] if b["seller_center_conn_id"] == conn_id]
            else:
                problem = f"connection {conn_id!r}: " + {
                    "rejected": "the cancellations were rejected",
                    TIMED_OUT: f"no answer within {approval['timeout_minutes']:g} minute(s)",
                }.get(conn_decision or "", "the approval step did not finish (see its log)")
                problem += f"; nothing was canceled for its {plan['short']} short item(s)"
        summary, failed = build_summary(
            found,
            batches if status in ("planned", "held") else None,
            per_outcome.get(conn_id),
            log_counts=False,
        )
        if status in ("blocked", "find_failed") or (status == "held" and not approved):
            failed = None  # the plan's own problem says it better than "plan step failed"
        problem = problem or failed
        if problem:
            problems.append(problem if conn_id in problem else f"connection {conn_id!r}: {problem}")
        total["connections"][conn_id] = _connection_summary(summary, status, problem)
        _add(total, summary)
    for conn_id, why in (skipped or {}).items():
        # Another run holds it (its approval waits, or it still cancels): not a failure.
        log.info("Connection %s: left to the run that holds it, %s", conn_id, why)
        total["connections"][conn_id] = _connection_summary(empty_summary(), "skipped", None)
        total["connections"][conn_id]["note"] = why
    log.info("Summary: %s", summary_line(total))
    if len(conn_ids) > 1:
        for conn_id, conn in total["connections"].items():
            log.info("Summary %s: %s", conn_id, summary_line(conn))
    if total["report"]:
        log.info("Report:\n%s", total["report"])
    if not problems:
        return total, None
    head = f"{len(problems)} of {len(conn_ids)} connection(s) did not complete: "
    return total, head + " | ".join(problems)


def _add(total: Summary, part: Summary) -> None:
    for key in COUNTED:
        total[key] += part[key]  # type: ignore[literal-required]  # keys of COUNTED are ints
    for key in ID_LISTS:
        total["ids"][key] += part["ids"][key]  # type: ignore[literal-required]  # id lists
        total["ids"][key].sort()  # type: ignore[literal-required]  # id lists
    for unit, count in part["short_by_unit"].items():
        total["short_by_unit"][unit] = total["short_by_unit"].get(unit, 0) + count
    total["failures"] += part["failures"]
    total["collateral"] += part["collateral"]
    if not total["stock"]:
        total["stock"] = part["stock"]
        total["cancel_scope"] = part["cancel_scope"]
    total["note"] = total["note"] or part["note"]


def pull_outcomes(ti: Any, task_ids: Sequence[str]) -> list[OutcomePayload]:
    """Every cancel task's outcome (XCom key ``outcome``), mapped or not, ran or not."""
    outcomes: list[OutcomePayload] = []
    for task_id in task_ids:
        outcomes += _outcomes(ti.xcom_pull(task_ids=task_id, key="outcome"))
    return outcomes


STOCK_KEY = "stock_corrections"
"""The XCom key under which a task pushes ``{connection: [CorrectionOutcome]}``."""


def pull_corrections(ti: Any, task_ids: Sequence[str]) -> dict[str, list[CorrectionOutcome]]:
    """Every stock correction the run's tasks made, per connection."""
    merged: dict[str, list[CorrectionOutcome]] = {}
    for task_id in task_ids:
        for pushed in xcom_dicts(ti.xcom_pull(task_ids=task_id, key=STOCK_KEY)):
            for conn_id, outcomes in pushed.items():
                merged.setdefault(str(conn_id), []).extend(outcomes or [])
    return merged


def correction_summary(
    founds: Any, applied: dict[str, list[CorrectionOutcome]]
) -> tuple[StockCorrectionSummary | None, list[str]]:
    """The run's stock corrections: counts per connection and unit (the plan's
    ``unchanged`` and ``skipped`` with the outcomes of those acted on), the entries lowered,
    failed, skipped or that a dry run would lower, and one problem per connection with a
    failed correction."""
    by_conn: dict[str, dict[str, Counter[str]]] = {}
    listed: list[dict[str, Any]] = []
    planned = False
    for payload in xcom_dicts(founds):
        plan = payload.get(STOCK_KEY)
        if not plan:
            continue
        planned = True
        conn_id = str(payload.get("seller_center_conn_id") or "")
        units = by_conn.setdefault(conn_id, {})
        for unit, planned_counts in plan["counts"].items():
            units.setdefault(unit, Counter()).update(planned_counts)
        for outcome in skipped_outcomes(plan["skipped"]):
            listed.append({"seller_center_conn_id": conn_id, **outcome})
    for conn_id, outcomes in applied.items():
        planned = True
        units = by_conn.setdefault(conn_id, {})
        for outcome in outcomes:
            units.setdefault(outcome["business_unit"], Counter())[outcome["outcome"]] += 1
            if outcome["outcome"] != "unchanged":
                listed.append({"seller_center_conn_id": conn_id, **outcome})
    if not planned:
        return None, []
    counts: Counter[str] = Counter()
    for units in by_conn.values():
        for unit_counts in units.values():
            counts.update(unit_counts)
    problems = [
        f"connection {conn_id!r}: {n} stock correction(s) failed (see stock_corrections)"
        for conn_id, units in sorted(by_conn.items())
        if (n := sum(c.get("failed", 0) for c in units.values()))
    ]
    summary: StockCorrectionSummary = {
        "counts": {name: counts.get(name, 0) for name in OUTCOMES},
        "connections": {
            conn_id: {unit: dict(c) for unit, c in sorted(units.items())}
            for conn_id, units in sorted(by_conn.items())
        },
        "entries": listed[:MAX_LISTED],
    }
    log.info(
        "Stock corrections: %s",
        " ".join(f"{name}={n}" for name, n in summary["counts"].items()),
    )
    return summary, problems


MAX_LISTED = 500
"""Stock corrections a summary lists one by one (all are counted)."""


def summarize_run(
    ti: Any,
    conn_ids: list[str],
    *,
    cancel_task_ids: Sequence[str],
    approval_task_id: str | None,
    plan_task_id: str = "plan_cancellations",
    find_task_id: str = "find_short_items",
    skipped: dict[str, str] | None = None,
    correction_task_ids: Sequence[str] = (),
) -> tuple[Summary, str | None]:
    """Pull what the run's tasks wrote and build the summary (``build_run_summary``)."""
    connections = ti.xcom_pull(task_ids=plan_task_id, key="connections")
    run_plan: RunPlan | None = None
    if connections is not None:
        run_plan = {
            "auto": ti.xcom_pull(task_ids=plan_task_id) or [],
            "held": ti.xcom_pull(task_ids=plan_task_id, key="held") or [],
            "connections": connections,
            "approval": ti.xcom_pull(task_ids=plan_task_id, key="approval"),
            "approvals": ti.xcom_pull(task_ids=plan_task_id, key="approvals") or {},
            "corrections": ti.xcom_pull(task_ids=plan_task_id, key="corrections") or {},
        }
    decisions: dict[str, tuple[str | None, str | None]] = {}
    if approval_task_id is not None and run_plan and run_plan["approval"]["required"]:
        decisions = approval_decisions(ti.xcom_pull(task_ids=approval_task_id, key="decision"))
    founds = ti.xcom_pull(task_ids=find_task_id)
    summary, problem = build_run_summary(
        founds,
        run_plan,
        pull_outcomes(ti, cancel_task_ids),
        conn_ids=conn_ids,
        decisions=decisions,
        skipped=skipped,
    )
    corrections, problems = correction_summary(founds, pull_corrections(ti, correction_task_ids))
    if corrections is not None:
        summary["stock_corrections"] = corrections
        for conn_id, units in corrections["connections"].items():
            if conn_id in summary["connections"]:
                summary["connections"][conn_id]["stock_corrections"] = units
    if problems:
        problem = "; ".join([problem, *problems] if problem else problems)
    return summary, problem
