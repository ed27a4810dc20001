"""A waiting approval holds up no one else, and Approve never acts on a stale decision,
on a live Airflow (api-server, scheduler, dag-processor; LocalExecutor), through the REST
API as a script or another system would (``make test-browser``; no browser needed).

Two connections on two sandboxes, stock from a warehouse CSV (the deployment's settings):

1. Run 1: connection A's short items trip the brake and wait for approval; B has nothing
   short. Run 1 stays running.
2. The warehouse loses units of B's SKUs. Run 2 cancels B's new short items and ends while
   run 1 still waits; it leaves A alone ("awaiting approval (run 1 ...)") and asks nothing
   about A again.
3. Part of A's stock is restocked in the warehouse. Approve on run 1: only A's approved
   items that are still short are canceled, the others end ``no_longer_short``.

Every expectation is worked out here from the sandboxes' own data (``expected_short``).
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_seller_provider.sandbox.testing import Sandbox, run_sandbox

from ..e2e.helpers import competing_items, expected_short, newly_canceled
from .conftest import Airflow, airflow_components
from .test_approval import (
    DAG_FILE,
    PARSE_TIMEOUT_S,
    POOL,
    REACH_APPROVAL_TIMEOUT_S,
    RUN_END_TIMEOUT_S,
    run_failure,
    run_summary,
    task_states,
    wait_for,
    wait_for_run_end,
)

RUN = os.environ.get("RUN_BROWSER_TESTS") == "1"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not RUN, reason="live test: `make test-browser` (RUN_BROWSER_TESTS=1)"),
]
DAG_ID = "cancel_short_stock_items"
APPROVAL_TASK = "short_stock.approve_cancellations"
MAX_CANCELLATIONS = 3
Figures = dict[tuple[str | None, str], int]


def demand(state: dict[str, Any], user_id: str) -> Counter[tuple[str, str]]:
    return Counter((unit, item["sku"]) for unit, _, item in competing_items(state, user_id))


def write_csv(path: Path, figures: Figures) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["sku", "units", "business_unit"])
        writer.writerows([sku, units, unit] for (unit, sku), units in sorted(figures.items()))


@pytest.fixture(scope="module")
def shops() -> Iterator[dict[str, Sandbox]]:
    with (
        run_sandbox(
            user_id="a@example.com", api_key=secrets.token_urlsafe(16), orders=60, seed=1
        ) as a,
        run_sandbox(
            user_id="b@example.com", api_key=secrets.token_urlsafe(16), orders=60, seed=11
        ) as b,
    ):
        yield {"sc_a": a, "sc_b": b}


@pytest.fixture(scope="module")
def warehouse(artifacts: Path) -> Path:
    return artifacts / "warehouse.csv"


@pytest.fixture(scope="module")
def stack(
    airflow: Airflow, shops: dict[str, Sandbox], warehouse: Path, artifacts: Path
) -> Iterator[Airflow]:
    assert airflow.dags is not None
    shutil.copy(DAG_FILE, airflow.dags / "cancel_short_stock_items.py")
    settings = {
        "seller_center_conn_ids": ["sc_a", "sc_b"],
        "stock_source": warehouse.as_uri(),
        "max_cancellations": MAX_CANCELLATIONS,
        "approval_timeout_minutes": 30,
    }
    env = {
        "AIRFLOW_CONN_SC_A": shops["sc_a"].airflow_conn_json(),
        "AIRFLOW_CONN_SC_B": shops["sc_b"].airflow_conn_json(),
        "AIRFLOW__SELLER_CENTER__SHORT_STOCK_SETTINGS": json.dumps(settings),
    }
    write_csv(warehouse, {})  # until the test writes its figures
    with airflow_components(airflow, artifacts, env, ("scheduler", "dag-processor")):
        airflow.api("POST", "api/v2/pools", json={"name": POOL, "slots": 2, "description": "t"})

        def parsed() -> bool:
            return airflow.api("GET", f"api/v2/dags/{DAG_ID}").status_code == 200

        wait_for(parsed, PARSE_TIMEOUT_S, f"{DAG_ID} parsed", airflow)
        answer = airflow.api("PATCH", f"api/v2/dags/{DAG_ID}", json={"is_paused": False})
        assert answer.status_code == 200, answer.text
        yield airflow


def trigger(airflow: Airflow, name: str) -> str:
    run_id = f"overlap-{name}-{secrets.token_hex(3)}"
    answer = airflow.api(
        "POST",
        f"api/v2/dags/{DAG_ID}/dagRuns",
        json={"dag_run_id": run_id, "logical_date": None, "conf": {}},
    )
    assert answer.status_code == 200, answer.text
    return run_id


def hitl_details(airflow: Airflow, run_id: str) -> list[dict[str, Any]]:
    answer = airflow.api("GET", f"api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails")
    assert answer.status_code == 200, answer.text
    return answer.json()["hitl_details"]


def test_a_waiting_approval_blocks_no_one_and_approve_decides_again(stack, shops, warehouse):
    a, b = shops["sc_a"], shops["sc_b"]
    state_a, state_b = a.state(), b.state()
    need_a, need_b = demand(state_a, a.user_id), demand(state_b, b.user_id)
    shared = set(need_a) & set(need_b)  # (unit, SKU) both sellers sell: always covered
    figures: Figures = {k: max(need_a[k], need_b[k]) for k in {*need_a, *need_b}}
    # A: its three most wanted SKUs have nothing left: well past the brake. B: all covered.
    top_a = [k for k, _ in need_a.most_common() if k not in shared][:3]
    for key in top_a:
        figures[key] = 0
    write_csv(warehouse, figures)
    held_a = expected_short(state_a, a.user_id, dict(figures), counts="on_hand")
    assert len(held_a) > MAX_CANCELLATIONS, "A must trip the brake"
    assert expected_short(state_b, b.user_id, dict(figures), counts="on_hand") == set()

    # 1. Run 1 waits for a person about A.
    run1 = trigger(stack, "first")

    def waiting() -> bool:
        states = task_states(stack, run1)
        assert "failed" not in {s for v in states.values() for s in v}, run_failure(stack, run1)
        return states.get(APPROVAL_TASK) == ["awaiting_input"]

    wait_for(waiting, REACH_APPROVAL_TIMEOUT_S, f"{run1} awaiting input", stack)
    (request,) = hitl_details(stack, run1)
    assert "sc_a" in request["subject"] and "reads the pending items" in request["body"]

    # 2. B loses units meanwhile; run 2 serves B and ends, while run 1 still waits.
    for key in [k for k, _ in need_b.most_common() if k not in shared][:2]:
        figures[key] = need_b[key] - 1
    write_csv(warehouse, figures)
    new_b = expected_short(state_b, b.user_id, dict(figures), counts="on_hand")
    assert 0 < len(new_b) <= MAX_CANCELLATIONS
    run2 = trigger(stack, "second")
    ended = wait_for_run_end(stack, run2, RUN_END_TIMEOUT_S)
    assert ended["state"] == "success", run_failure(stack, run2)
    assert newly_canceled(state_b, b.state()) == new_b
    assert newly_canceled(state_a, a.state()) == set(), "A's items wait for their approval"
    summary2 = run_summary(stack, run2)
    assert summary2["connections"]["sc_a"]["status"] == "skipped"
    assert summary2["connections"]["sc_a"]["note"].startswith(f"awaiting approval (run {run1}")
    assert hitl_details(stack, run2) == [], "A is not asked twice"
    assert stack.api("GET", f"api/v2/dags/{DAG_ID}/dagRuns/{run1}").json()["state"] == "running"

    # 3. Part of A is restocked; Approve cancels only what is still short.
    figures[top_a[0]] = need_a[top_a[0]]
    write_csv(warehouse, figures)
    still = expected_short(a.state(), a.user_id, dict(figures), counts="on_hand") & held_a
    gone = held_a - still
    assert still and gone, "the restock must free some of A's held items, not all"
    answer = stack.api(
        "PATCH",
        f"api/v2/dags/{DAG_ID}/dagRuns/{run1}/taskInstances/{APPROVAL_TASK}/0/hitlDetails",
        json={"chosen_options": ["Approve"], "params_input": {}},
    )
    assert answer.status_code == 200, answer.text
    ended = wait_for_run_end(stack, run1, RUN_END_TIMEOUT_S)
    assert ended["state"] == "success", run_failure(stack, run1)
    assert newly_canceled(state_a, a.state()) == still
    assert all(n == 1 for n in a.cancellation_counts().values())
    summary1 = run_summary(stack, run1)
    conn_a = summary1["connections"]["sc_a"]
    assert (conn_a["canceled"], conn_a["no_longer_short"]) == (len(still), len(gone))
    assert set(summary1["ids"]["no_longer_short"]) == gone
    assert summary1["approval"]["decisions"]["sc_a"]["decision"] == "approved"
