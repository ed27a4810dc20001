"""``correct_stock="lower"`` end to end: Seller Center's stock lowered to the warehouse's.

The expectation is worked out here from the sandbox's own data (declared quantities,
pending items) and the documented arithmetic (docs/stock-correction.md),
not from the project's code: after a run, a (unit, SKU)'s sellable figure is
``min(declared, on_hand) - the pending items left``; new orders for the oversold SKUs are
refused, and a second run cancels nothing new. The control run (``off``) lets them in.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_seller_provider.compat import HITL_AVAILABLE
from airflow_seller_provider.sandbox.errors import internal_error
from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import (
    competing_items,
    expected_short,
    main_seller_id,
    newly_canceled,
    run_dag,
    run_dag_answering,
    save_log,
    summary_from_log,
)

pytestmark = pytest.mark.slow

Key = tuple[str, str]


def demand(state: dict[str, Any], user_id: str) -> Counter[Key]:
    """Pending items the seller ships, per (unit, SKU)."""
    return Counter((unit, it["sku"]) for unit, _, it in competing_items(state, user_id))


def declared(state: dict[str, Any], user_id: str) -> dict[Key, int]:
    seller = main_seller_id(state, user_id)
    return {
        (unit, p["seller_sku"]): q
        for p in state["products"]
        if p["seller_id"] == seller
        for unit, q in p["quantity"].items()
    }


def mixed_warehouse(sandbox) -> tuple[dict[Key, int], dict[str, set]]:
    """Sets Seller Center's declared quantities and returns a warehouse that has, in each
    unit: SKUs short (fewer units than their pending items) that Seller Center shows as
    sellable, SKUs short whose declared quantity is already below the pending items (a
    figure below zero, or 0 where the sandbox clamps), SKUs covered but over-declared, and
    SKUs where the warehouse has more than Seller Center declares."""
    state = sandbox.state()
    need = demand(state, sandbox.user_id)
    figures: dict[Key, int] = {}
    quantity: dict[Key, int] = {}
    kinds: dict[str, set] = {"short": set(), "hidden": set(), "over": set(), "more": set()}
    for n, (key, pending) in enumerate(sorted(need.items())):
        if pending >= 3 and n % 4 == 0:
            kind, quantity[key], figures[key] = "hidden", pending - 1, pending - 2
        elif pending >= 2 and n % 4 in (0, 1):
            kind, quantity[key], figures[key] = "short", pending + 2, pending - 1
        elif n % 4 == 2:
            kind, quantity[key], figures[key] = "over", pending + 4, pending + 1
        else:
            kind, quantity[key], figures[key] = "more", pending + 1, pending + 6
        kinds[kind].add(key)
    assert all(kinds.values()), kinds
    seller = main_seller_id(state, sandbox.user_id)
    for product in state["products"]:
        if product["seller_id"] == seller:
            for unit in product["quantity"]:
                product["quantity"][unit] = quantity.get((unit, product["seller_sku"]), 7)
    sandbox.load_state(state)
    return figures, kinds


def write_csv(path: Path, figures: dict[Key, int]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["sku", "units", "business_unit"])
        for (unit, sku), units in sorted(figures.items()):
            out.writerow([sku, units, unit])


def expected_sellable(
    state: dict[str, Any], user_id: str, figures: dict[Key, int], short: set[int]
) -> dict[Key, int]:
    """After a ``lower`` run: ``min(declared, on hand)`` less the pending items left."""
    left = Counter(
        (unit, it["sku"])
        for unit, _, it in competing_items(state, user_id)
        if it["order_item_id"] not in short
    )
    have = declared(state, user_id)
    return {key: min(have[key], w) - left[key] for key, w in figures.items()}


@dataclass
class Scenario:
    """A sandbox set up by ``mixed_warehouse``, its warehouse CSV, and the expectation."""

    figures: dict[Key, int]
    kinds: dict[str, set]
    state: dict[str, Any]
    warehouse: Path
    short: set[int]
    want: dict[Key, int]


def scenario(sandbox, tmp_path: Path) -> Scenario:
    figures, kinds = mixed_warehouse(sandbox)
    state = sandbox.state()
    warehouse = tmp_path / "warehouse.csv"
    write_csv(warehouse, figures)
    short = expected_short(state, sandbox.user_id, figures, counts="on_hand")
    want = expected_sellable(state, sandbox.user_id, figures, short)
    return Scenario(figures, kinds, state, warehouse, short, want)


def sellable_now(sandbox, keys) -> dict[Key, int]:
    return {(unit, sku): sandbox.stock(sku)[unit] for unit, sku in keys}


def place(sandbox, unit: str, sku: str) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/_sandbox/orders",
        json={"business_unit": unit, "items": [{"sku": sku, "quantity": 1}]},
        timeout=10,
    )


def corrections_line(log: str) -> dict[str, int]:
    lines = re.findall(r"Stock corrections: ((?:\w+=\d+ ?)+)", log)
    assert lines, f"no stock corrections in the log:\n{log[-3000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


def actions(sandbox) -> Counter[str]:
    return Counter(r.get("action") for r in sandbox.requests_log())


def settings_for(csv_path: Path, correct: str) -> dict[str, Any]:
    return {
        "stock_source": csv_path.as_uri(),
        "correct_stock": correct,
        "max_cancel_fraction": 1.0,
    }


def test_lower_stops_the_oversell_and_the_control_run_lets_it_in(airflow_db, tmp_path):
    # --- lower ---------------------------------------------------------------------------
    with run_sandbox(seed=5, orders=120, negative_stock="show") as sandbox:
        figures, kinds = mixed_warehouse(sandbox)
        state = sandbox.state()
        warehouse = tmp_path / "warehouse.csv"
        write_csv(warehouse, figures)
        short = expected_short(state, sandbox.user_id, figures, counts="on_hand")
        assert short
        want = expected_sellable(state, sandbox.user_id, figures, short)
        untouched = {k: sandbox.stock(k[1])[k[0]] for k in kinds["more"]}

        code, log = run_dag(sandbox.airflow_conn_json(), settings=settings_for(warehouse, "lower"))
        assert code == 0, save_log(log, "correct-lower")
        after = sandbox.state()
        assert newly_canceled(state, after) == short, save_log(log, "correct-lower")
        now = sellable_now(sandbox, figures)
        assert now == want, save_log(log, "correct-lower")
        assert {k: now[k] for k in kinds["more"]} == untouched  # never raised
        assert all(now[k] == 0 for k in kinds["short"] | kinds["hidden"])
        counts = corrections_line(log)
        lowered = {
            k
            for k in figures
            if declared(after, sandbox.user_id)[k] < declared(state, sandbox.user_id)[k]
        }
        assert counts["lowered"] == len(lowered) and counts["failed"] == 0
        assert lowered == kinds["short"] | kinds["hidden"] | kinds["over"]

        # New orders for the oversold SKUs are refused: nothing sellable is left.
        for unit, sku in sorted(kinds["short"] | kinds["hidden"]):
            answer = place(sandbox, unit, sku)
            assert answer.status_code == 409, answer.text
        # A second run cancels nothing new and sets nothing.
        sandbox.clear_requests_log()
        code, again = run_dag(
            sandbox.airflow_conn_json(), settings=settings_for(warehouse, "lower")
        )
        assert code == 0, save_log(again, "correct-lower-again")
        assert summary_from_log(again)["canceled"] == 0
        assert actions(sandbox)["UpdateStock"] == 0
        assert sellable_now(sandbox, figures) == want

    # --- the control run: off -----------------------------------------------------------
    with run_sandbox(seed=5, orders=120, negative_stock="show") as sandbox:
        assert mixed_warehouse(sandbox)[0] == figures
        state = sandbox.state()
        code, log = run_dag(sandbox.airflow_conn_json(), settings=settings_for(warehouse, "off"))
        assert code == 0, save_log(log, "correct-off")
        assert newly_canceled(state, sandbox.state()) == short
        assert "UpdateStock" not in actions(sandbox)
        # Seller Center still sells what the warehouse does not have: the orders go in...
        let_in: set[int] = set()
        for unit, sku in sorted(kinds["short"] | kinds["hidden"]):
            answer = place(sandbox, unit, sku)
            assert answer.status_code in (200, 201), answer.text
            let_in |= set(answer.json()["order_item_ids"])
        # ... and the next run cancels exactly them.
        before = sandbox.state()
        code, again = run_dag(sandbox.airflow_conn_json(), settings=settings_for(warehouse, "off"))
        assert code == 0, save_log(again, "correct-off-again")
        assert newly_canceled(before, sandbox.state()) == let_in


def test_lower_where_the_api_clamps_at_zero(airflow_db, tmp_path):
    """A figure of 0 hides the declared quantity: those SKUs are judged again after the
    cancels, and end where the arithmetic says."""
    with run_sandbox(seed=5, orders=120, negative_stock="clamp") as sandbox:
        figures, kinds = mixed_warehouse(sandbox)
        state = sandbox.state()
        assert all(sandbox.stock(sku)[unit] == 0 for unit, sku in kinds["hidden"])
        warehouse = tmp_path / "warehouse.csv"
        write_csv(warehouse, figures)
        short = expected_short(state, sandbox.user_id, figures, counts="on_hand")
        want = {
            k: max(0, v)
            for k, v in expected_sellable(state, sandbox.user_id, figures, short).items()
        }
        code, log = run_dag(sandbox.airflow_conn_json(), settings=settings_for(warehouse, "lower"))
        assert code == 0, save_log(log, "correct-clamp")
        assert newly_canceled(state, sandbox.state()) == short
        assert sellable_now(sandbox, figures) == want, save_log(log, "correct-clamp")
        for unit, sku in sorted(kinds["hidden"]):
            assert place(sandbox, unit, sku).status_code == 409


def test_a_dry_run_sends_neither_update_stock_nor_cancels(airflow_db, tmp_path):
    with run_sandbox(seed=5, orders=120, negative_stock="show") as sandbox:
        figures, kinds = mixed_warehouse(sandbox)
        state = sandbox.state()
        warehouse = tmp_path / "warehouse.csv"
        write_csv(warehouse, figures)
        sandbox.clear_requests_log()
        code, log = run_dag(
            sandbox.airflow_conn_json(),
            {"dry_run": True},
            settings=settings_for(warehouse, "lower"),
        )
        assert code == 0, save_log(log, "correct-dry")
        sent = actions(sandbox)
        assert sent["UpdateStock"] == 0 and sent["SetStatusToCanceled"] == 0, sent
        assert sandbox.state()["products"] == state["products"]
        counts = corrections_line(log)
        assert counts["would_lower"] >= len(kinds["short"] | kinds["over"]) - counts["skipped"]
        assert counts["lowered"] == 0


def test_faults_during_update_stock_set_nothing_twice_and_a_retry_finishes(airflow_db, tmp_path):
    """UpdateStock answers E006 (Seller Center's internal error) the first ``failing``
    times: the client's retries ride out the first; when they run out the correction ends
    ``failed`` with its code and the run fails, and the next run finishes the job. No
    warehouse is set twice: each unit's one UpdateStock that succeeded is all there is."""
    failing = {"left": 12}

    def flaky(action: str, params: dict) -> None:
        if action == "UpdateStock" and failing["left"] > 0:
            failing["left"] -= 1
            raise internal_error()

    # "show": every figure is known before the cancels, so each unit's corrections go in one
    # UpdateStock (clamped, the hidden SKUs are set again after the cancels, in a second
    # call: test_lower_where_the_api_clamps_at_zero).
    with run_sandbox(seed=5, orders=120, negative_stock="show") as sandbox:
        case = scenario(sandbox, tmp_path)
        figures, kinds, state, warehouse = case.figures, case.kinds, case.state, case.warehouse
        short, want = case.short, case.want
        units = {unit for unit, _ in kinds["short"] | kinds["hidden"] | kinds["over"]}
        sandbox.before_action(flaky)
        code, log = run_dag(sandbox.airflow_conn_json(), settings=settings_for(warehouse, "lower"))
        first = corrections_line(log)
        assert code != 0 and first["failed"] > 0, save_log(log, "correct-faults")
        assert "E006" in log
        assert newly_canceled(state, sandbox.state()) == short  # the cancels went on
        sandbox.before_action(None)
        code, log = run_dag(sandbox.airflow_conn_json(), settings=settings_for(warehouse, "lower"))
        assert code == 0, save_log(log, "correct-faults-retry")
        assert corrections_line(log)["failed"] == 0
        assert sellable_now(sandbox, figures) == want, save_log(log, "correct-faults-retry")
        applied = [
            r
            for r in sandbox.requests_log()
            if r.get("action") == "UpdateStock" and r.get("verdict") == "ok"
        ]
        assert len(applied) == len(units), applied
        # A third run finds nothing left to set.
        sandbox.clear_requests_log()
        code, log = run_dag(sandbox.airflow_conn_json(), settings=settings_for(warehouse, "lower"))
        assert code == 0 and "UpdateStock" not in actions(sandbox)


@pytest.mark.skipif(not HITL_AVAILABLE, reason="human-in-the-loop needs Airflow 3.1+")
@pytest.mark.parametrize("answer", ["Approve", "Reject"])
def test_a_tripped_brake_holds_the_corrections_for_approval(airflow_db, tmp_path, answer):
    with run_sandbox(seed=5, orders=120, negative_stock="show") as sandbox:
        case = scenario(sandbox, tmp_path)
        figures, kinds, state, warehouse = case.figures, case.kinds, case.state, case.warehouse
        short, want = case.short, case.want
        before = sellable_now(sandbox, figures)
        code, log, seen = run_dag_answering(
            sandbox.airflow_conn_json(),
            {"max_stock_corrections": 1},
            answer,
            settings=settings_for(warehouse, "lower"),
        )
        lowered = kinds["short"] | kinds["hidden"] | kinds["over"]
        assert f"lowering {len(lowered)} stock figure(s)" in seen["subject"]
        assert "exceed max_stock_corrections=1" in seen["body"]
        assert "| SKU | Business unit | Warehouse | From | To |" in seen["body"]
        if answer == "Approve":
            assert code == 0, save_log(log, "correct-approve")
            assert newly_canceled(state, sandbox.state()) == short
            assert sellable_now(sandbox, figures) == want
        else:
            assert code != 0
            assert newly_canceled(state, sandbox.state()) == set()
            assert sellable_now(sandbox, figures) == before
