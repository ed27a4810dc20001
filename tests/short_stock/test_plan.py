"""The plan step's decisions: connections, brake per connection, approval modes, report."""

from __future__ import annotations

import pytest

from airflow_seller_provider.short_stock.plan import (
    ApprovalUnavailable,
    brake_trips,
    plan_run,
    run_connections,
)

from ..support import PLAN_PARAMS as PARAMS
from ..support import found_for as found


def test_connections_default_to_the_single_param_and_are_checked():
    assert run_connections(PARAMS, hitl_available=True) == ["seller_center_default"]
    two = {**PARAMS, "seller_center_conn_ids": ["sc_cl", " sc_co "]}
    assert run_connections(two, hitl_available=True) == ["sc_cl", "sc_co"]
    with pytest.raises(ValueError, match=r"\['sc_cl'\] more than once"):
        run_connections(
            {**PARAMS, "seller_center_conn_ids": ["sc_cl", "sc_cl"]}, hitl_available=True
        )
    with pytest.raises(ValueError, match="non-empty strings"):
        run_connections({**PARAMS, "seller_center_conn_ids": ["sc_cl", ""]}, hitl_available=True)
    with pytest.raises(ValueError, match="list of connection ids"):
        run_connections({**PARAMS, "seller_center_conn_ids": "sc_cl"}, hitl_available=True)
    with pytest.raises(ValueError, match="more than 200"):
        many = [f"c{i}" for i in range(201)]
        run_connections({**PARAMS, "seller_center_conn_ids": many}, hitl_available=True)
    with pytest.raises(ValueError, match="require_approval='sometimes'"):
        run_connections({**PARAMS, "require_approval": "sometimes"}, hitl_available=True)


def test_always_is_refused_without_human_in_the_loop():
    with pytest.raises(ApprovalUnavailable, match="needs Airflow 3.1"):
        run_connections({**PARAMS, "require_approval": "always"}, hitl_available=False)


def test_brake_trips_say_which_limit_and_by_how_much():
    trips = brake_trips(30, 40, max_cancellations=25, max_cancel_fraction=0.5)
    assert [t.limit for t in trips] == ["max_cancellations", "max_cancel_fraction"]
    assert "exceed max_cancellations=25 by 5" in trips[0].text
    assert "30 of 40 pending items (75%)" in trips[1].text and "by 25%" in trips[1].text
    assert brake_trips(8, 10, max_cancellations=25, max_cancel_fraction=0.5) == []


def test_one_connection_s_brake_holds_only_its_items():
    params = {**PARAMS, "max_cancellations": 3}
    conns = ["ok", "big", "gone"]
    plan = plan_run([found("ok", 3), found("big", 5)], conns, params, hitl_available=True)
    by_conn = {c["seller_center_conn_id"]: c for c in plan["connections"]}
    assert [by_conn[c]["status"] for c in conns] == ["planned", "held", "find_failed"]
    assert {b["seller_center_conn_id"] for b in plan["auto"]} == {"ok"}
    assert {b["seller_center_conn_id"] for b in plan["held"]} == {"big"}
    assert sum(len(b["order_item_id"]) for b in plan["held"]) == 5
    assert plan["approval"]["required"] and plan["approval"]["items"] == 5
    assert "find_short_items, map index 2" in by_conn["gone"]["problem"]
    report = plan["approval"]["report"]
    assert "`big`" in report and "`ok`" not in report  # only what waits is shown
    assert "exceed max_cancellations=3 by 2" in report
    assert "| FACL | 5 |" in report and "SKU\\|1" in report  # a pipe in a SKU is escaped
    assert "Approve canceling 5" in plan["approval"]["subject"]


@pytest.mark.parametrize(
    ("mode", "hitl", "status"),
    [("never", True, "blocked"), ("on_brake", False, "blocked"), ("on_brake", True, "held")],
)
def test_a_tripped_brake_by_mode(mode, hitl, status):
    params = {**PARAMS, "max_cancellations": 1, "require_approval": mode}
    plan = plan_run(
        [found("seller_center_default", 2)], ["seller_center_default"], params, hitl_available=hitl
    )
    (conn,) = plan["connections"]
    assert conn["status"] == status
    assert not plan["auto"]
    if status == "blocked":
        assert not plan["held"] and not plan["approval"]["required"]
        assert "Safety brake" in conn["problem"]


def test_always_holds_every_connection_with_something_to_cancel():
    params = {**PARAMS, "require_approval": "always"}
    plan = plan_run([found("a", 2), found("b", 0)], ["a", "b"], params, hitl_available=True)
    assert [c["status"] for c in plan["connections"]] == ["held", "planned"]
    assert not plan["auto"] and plan["held"]
    assert "require_approval is 'always'" in plan["approval"]["report"]


def test_a_dry_run_never_waits_and_reports_what_a_real_run_would_do():
    params = {**PARAMS, "dry_run": True, "max_cancellations": 1}
    plan = plan_run([found("a", 2)], ["a"], params, hitl_available=True)
    assert not plan["approval"]["required"] and not plan["held"]
    assert all(b["dry_run"] for b in plan["auto"])
    assert "Dry run: nothing was canceled." in plan["approval"]["report"]
    assert "a real run would ask a person to approve" in plan["approval"]["report"]
    plan = plan_run(
        [found("a", 2)], ["a"], {**params, "require_approval": "never"}, hitl_available=True
    )
    assert "a real run would stop at the safety brake" in plan["approval"]["report"]
