"""The run's summary over several connections, with approval decisions."""

from __future__ import annotations

from airflow_seller_provider.operators.outcomes import Outcome, outcome_payload
from airflow_seller_provider.short_stock.events import cancellation_events
from airflow_seller_provider.short_stock.plan import plan_run
from airflow_seller_provider.short_stock.summary import approval_decision, build_run_summary

from ..support import PLAN_PARAMS as PARAMS
from ..support import found_for as found


def outcome(conn_id: str, canceled: list[int], failed: list[int] = ()) -> dict:
    return outcome_payload(
        [Outcome(i, "canceled") for i in canceled] + [Outcome(i, "failed", "E021") for i in failed],
        dry_run=False,
        seller_center_conn_id=conn_id,
    )


def test_totals_and_per_connection_counts_and_the_failed_one_named():
    conns = ["cl", "co", "pe"]
    founds = [found("cl", 2), found("co", 1)]  # pe's find step failed
    plan = plan_run(founds, conns, PARAMS, hitl_available=True)
    outcomes = [outcome("cl", [1000, 1001]), outcome("co", [1000])]  # same ids, other account
    summary, problem = build_run_summary(founds, plan, outcomes, conn_ids=conns)
    assert summary["canceled"] == 3 and summary["short"] == 3
    assert summary["connections"]["cl"]["canceled"] == 2
    assert summary["connections"]["co"]["canceled"] == 1
    assert summary["connections"]["pe"]["status"] == "find_failed"
    assert summary["short_by_unit"] == {"FACL": 3}
    assert problem and "1 of 3 connection(s)" in problem and "'pe'" in problem
    assert "'cl'" not in problem


def test_an_item_without_an_outcome_fails_its_own_connection():
    conns = ["cl", "co"]
    founds = [found("cl", 2), found("co", 1)]
    plan = plan_run(founds, conns, PARAMS, hitl_available=True)
    summary, problem = build_run_summary(
        founds, plan, [outcome("cl", [1000], failed=[1001])], conn_ids=conns
    )
    assert summary["connections"]["cl"]["failed"] == 1
    assert summary["connections"]["co"]["failed"] == 1  # NO_OUTCOME: its task never reported
    assert problem and "'cl'" in problem and "'co'" in problem


def test_approval_decisions():
    params = {**PARAMS, "max_cancellations": 1}
    founds = [found("cl", 2)]
    plan = plan_run(founds, ["cl"], params, hitl_available=True)
    held_ids = [e["order_item_id"] for b in plan["held"] for e in b["order_item_id"]]

    summary, problem = build_run_summary(
        founds, plan, [outcome("cl", held_ids)], conn_ids=["cl"], decision="approved"
    )
    assert problem is None and summary["canceled"] == 2
    assert summary["approval"] == {
        "required": True,
        "decision": "approved",
        "responded_by": None,
        "items": 2,
        "decisions": {"cl": {"decision": "approved", "responded_by": None}},
    }
    for decision, words in (
        ("rejected", "were rejected"),
        ("timed_out", "no answer within 120 minute(s)"),
        (None, "approval step did not finish"),
    ):
        summary, problem = build_run_summary(founds, plan, [], conn_ids=["cl"], decision=decision)
        assert problem and words in problem, (decision, problem)
        assert summary["canceled"] == 0 and summary["failed"] == 0  # not failed: not tried
        assert summary["report"] and "will be canceled" in summary["report"]


def test_approval_decision_reads_what_the_operator_pushed():
    assert approval_decision({"decision": "rejected", "responded_by": "ana"}) == ("rejected", "ana")
    assert approval_decision(None) == (None, None)


def test_events_one_per_connection_with_canceled_items():
    outcomes = [
        outcome("co", [7, 5]),
        outcome("cl", [3], failed=[4]),
        outcome("co", [9]),
        outcome("pe", []),
        {**outcome("dry", [1]), "dry_run": True},
    ]
    events = cancellation_events(outcomes, dag_run_id="run-1", default_conn_id="x")
    assert [e["seller_center_conn_id"] for e in events] == ["cl", "co"]
    assert events[1]["canceled"] == [5, 7, 9]
    assert (events[0]["canceled_count"], events[0]["failed_count"]) == (1, 1)
    assert events[1]["canceled_count"] == 3 and events[1]["already_canceled_count"] == 0
    assert all(e["dag_run_id"] == "run-1" for e in events)


def test_each_held_connection_has_its_own_approval_and_answer():
    params = {**PARAMS, "max_cancellations": 1}
    founds = [found("cl", 2), found("co", 3), found("pe", 1)]  # pe within the limits
    plan = plan_run(founds, ["cl", "co", "pe"], params, hitl_available=True)
    assert set(plan["approvals"]) == {"cl", "co"}
    assert plan["approvals"]["cl"]["items"] == 2 and plan["approvals"]["co"]["items"] == 3
    assert "connection cl" in plan["approvals"]["cl"]["subject"]
    assert (
        "`co`" in plan["approvals"]["co"]["report"]
        and "`cl`" not in (plan["approvals"]["co"]["report"])
    )
    assert "reads the pending items and the stock again" in plan["approvals"]["cl"]["report"]
    cl_held = [e["order_item_id"] for b in plan["held"] if b["seller_center_conn_id"] == "cl"
               for e in b["order_item_id"]]  # fmt: skip
    approved = outcome("cl", cl_held[:1])
    approved["no_longer_short"] = cl_held[1:]  # restocked before the answer
    summary, problem = build_run_summary(
        founds,
        plan,
        [approved, outcome("pe", [1000])],
        conn_ids=["cl", "co", "pe"],
        decisions={"cl": ("approved", "ana"), "co": ("rejected", "bo")},
        skipped={"mx": "awaiting approval (run r1 of d, since 2026-12-06T03:00:00+00:00)"},
    )
    cl = summary["connections"]["cl"]
    assert (cl["canceled"], cl["no_longer_short"], cl["failed"]) == (1, 1, 0)
    assert summary["no_longer_short"] == 1 and summary["ids"]["no_longer_short"] == cl_held[1:]
    assert summary["connections"]["pe"]["canceled"] == 1
    assert summary["approval"]["decisions"] == {
        "cl": {"decision": "approved", "responded_by": "ana"},
        "co": {"decision": "rejected", "responded_by": "bo"},
    }
    assert summary["connections"]["mx"]["status"] == "skipped"
    assert summary["connections"]["mx"]["note"].startswith("awaiting approval (run r1")
    assert problem and "'co'" in problem and "rejected" in problem
    assert "'cl'" not in problem and "'mx'" not in problem


def test_the_approval_decides_again_before_it_cancels():
    from airflow_seller_provider.short_stock.plan import redecide

    approved = [{"order_item_id": i, "order_id": 10 + i} for i in (1, 2, 3)]
    now = found("cl", 0)
    now["short"] = [{"order_item_id": 3, "order_id": 13}, {"order_item_id": 9, "order_id": 19}]
    keep, gone = redecide(approved, now)
    assert keep == [{"order_item_id": 3, "order_id": 13}]  # approved and still short
    assert gone == [1, 2]  # restocked, or no longer pending: no_longer_short
    # 9 became short after the request: not canceled under it (the next run plans it).
    assert 9 not in {e["order_item_id"] for e in keep}
    assert redecide(approved, found("cl", 0)) == ([], [1, 2, 3])
