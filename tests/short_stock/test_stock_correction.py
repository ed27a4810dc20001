"""``correct_stock="lower"``: the target per source kind and cancel scope, never raising,
which warehouse, the brake, the refusals, and applying against the sandbox."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from airflow_seller_provider.client.models import WarehouseStock
from airflow_seller_provider.hooks.seller_center import SellerCenterHook
from airflow_seller_provider.sandbox.testing import run_sandbox
from airflow_seller_provider.short_stock.approval_report import render_report
from airflow_seller_provider.short_stock.find import ScanResult, found_payload
from airflow_seller_provider.short_stock.plan import HELD, plan_run, trips_for
from airflow_seller_provider.short_stock.rule import (
    ON_HAND,
    PACKAGE,
    SELLABLE,
    ScannedItem,
    StockFigures,
    decide_shortages,
)
from airflow_seller_provider.short_stock.run_policy import run_settings
from airflow_seller_provider.short_stock.settings import SettingsError, check_settings
from airflow_seller_provider.short_stock.stock_correction import (
    AFTER,
    BEFORE,
    DEFERRED,
    LOWER,
    LOWERED,
    NOT_LISTED,
    SEVERAL_WAREHOUSES,
    UNCHANGED,
    WOULD_LOWER,
    apply_corrections,
    judge,
    plan_corrections,
    still_needed,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_ids = itertools.count(1)


def pending(sku: str, n: int, unit: str = "FACL", package: bool = False) -> list[ScannedItem]:
    order = next(_ids) * 1000
    return [
        ScannedItem(
            order_item_id=next(_ids),
            order_id=order if package else order + i,
            sku=sku,
            order_created_at=T0 + timedelta(minutes=next(_ids)),
            shipping_type="Dropshipping",
            business_unit=unit,
            package_id="P1" if package else "",
        )
        for i in range(n)
    ]


def row(sku: str, quantity: int, unit: str = "facl", wh: str = "WH-CL") -> WarehouseStock:
    return WarehouseStock(sku, quantity, f"GSC-{wh}", wh, unit)


def by_sku(plan):
    return {e["sku"]: e for e in plan["entries"]}


def test_the_readme_example_three_rows():
    """docs/stock-correction.md, the three rows: a short SKU, an over-declared but covered
    one, and one where the warehouse has more (on_hand figures, item scope)."""
    items = pending("SHORT", 3) + pending("OVER", 2) + pending("MORE", 2)
    figures = StockFigures(
        {("FACL", "SHORT"): 1, ("FACL", "OVER"): 4, ("FACL", "MORE"): 10}, ON_HAND
    )
    decision = decide_shortages(items, figures)
    # Seller Center declares 5, 9 and 6: its sellable figures are 2, 7 and 4.
    rows = [row("SHORT", 2), row("OVER", 7), row("MORE", 4)]
    plan = plan_corrections(decision, rows)
    entries = by_sku(plan)
    assert set(entries) == {"SHORT", "OVER"} and plan["counts"] == {"FACL": {UNCHANGED: 1}}
    short, over = entries["SHORT"], entries["OVER"]
    assert (short["declared"], short["remaining"], short["target_sellable"], short["target"]) == (
        5,
        1,
        0,
        1,
    )
    assert (over["declared"], over["remaining"], over["target_sellable"], over["target"]) == (
        9,
        2,
        2,
        4,
    )
    assert short["warehouse"] == {"SellerWarehouseId": "WH-CL"}


def test_the_three_rows_of_the_stock_page_with_a_warehouse_that_disagrees():
    """docs/stock-correction.md: one SKU, three pending orders, per row (Seller Center's
    declared quantity, the warehouse's on-hand units) -> what the run does."""
    rows = {"A": (3, 1), "B": (5, 3), "C": (1, 5)}
    items = [i for sku in rows for i in pending(sku, 3)]
    figures = StockFigures({("FACL", sku): w for sku, (_, w) in rows.items()}, ON_HAND)
    decision = decide_shortages(items, figures)
    assert sorted(i.sku for i in decision.short) == ["A", "A"]
    shown = [row(sku, max(0, declared - 3)) for sku, (declared, _) in rows.items()]  # clamped
    plan = plan_corrections(decision, shown)
    entries = by_sku(plan)
    assert set(entries) == {"A", "B"} and plan["counts"]["FACL"] == {UNCHANGED: 1}
    a, b = entries["A"], entries["B"]
    assert (a["status"], a["target"], a["remaining"]) == (DEFERRED, 1, 1)
    # After the two cancels Seller Center reads 3 - 1 = 2: declared 3, above the target.
    assert judge(2, a["remaining"], a["target"]) == (LOWER, 3)
    assert (b["status"], b["declared"], b["target"]) == (LOWER, 5, 3)


def test_a_sellable_source_counts_the_queue_as_on_hand():
    items = pending("A", 3)
    # The warehouse's sellable figure -1: 2 on hand for 3 pending; Seller Center declares 6.
    decision = decide_shortages(items, StockFigures({("FACL", "A"): -1}, SELLABLE))
    entry = by_sku(plan_corrections(decision, [row("A", 3)]))["A"]
    assert (entry["on_hand"], entry["remaining"], entry["target"]) == (2, 2, 2)


def test_package_scope_keeps_what_the_whole_packages_left():
    # One package of 2 A + 1 B (short of B), then a package of 1 A: the first is short
    # whole, so A's remaining reservations are 1 and A's target is on hand (3).
    first = pending("A", 2, package=True)
    b = ScannedItem(
        order_item_id=next(_ids),
        order_id=first[0].order_id,
        sku="B",
        order_created_at=first[0].order_created_at,
        shipping_type="Dropshipping",
        business_unit="FACL",
        package_id="P1",
    )
    later = pending("A", 1, package=True)
    figures = StockFigures({("FACL", "A"): 3, ("FACL", "B"): 0}, ON_HAND)
    decision = decide_shortages([*first, b, *later], figures, cancel_scope=PACKAGE)
    assert len(decision.short) == 3
    entries = by_sku(plan_corrections(decision, [row("A", 5), row("B", 4)]))
    assert (entries["A"]["remaining"], entries["A"]["target_sellable"], entries["A"]["target"]) == (
        1,
        2,
        3,
    )
    assert entries["B"]["target"] == 0 and entries["B"]["declared"] == 5


def test_never_raises_a_figure():
    for sellable, reserved, target in itertools.product(range(-4, 6), range(6), range(9)):
        status, declared = judge(sellable, reserved, target)
        case = (sellable, reserved, target, status, declared)
        if status == LOWER:
            assert declared is not None and declared > target, case
        elif status == UNCHANGED:
            # Known at or below the target, or hidden by a 0 and at most the reservations.
            assert (declared is not None and declared <= target) or (
                sellable == 0 and reserved <= target
            ), case
        else:
            assert status == DEFERRED and sellable == 0 and reserved > target, case


def test_a_zero_hides_the_figure_until_after_the_cancels():
    items = pending("A", 4)
    decision = decide_shortages(items, StockFigures({("FACL", "A"): 1}, ON_HAND))
    entry = by_sku(plan_corrections(decision, [row("A", 0)]))["A"]
    assert entry["status"] == DEFERRED and entry["declared"] is None
    # After the cancels 1 reservation is left: a figure of 2 means 3 declared, above 1.
    assert judge(2, entry["remaining"], entry["target"]) == (LOWER, 3)
    assert judge(0, entry["remaining"], entry["target"]) == (UNCHANGED, None)


def test_which_warehouse():
    items = pending("ONE", 1) + pending("TWO", 1) + pending("NONE", 1) + pending("CO", 1, "FACO")
    figures = StockFigures(
        {("FACL", s): 0 for s in ("ONE", "TWO", "NONE")} | {("FACO", "CO"): 0}, ON_HAND
    )
    decision = decide_shortages(items, figures)
    rows = [
        row("ONE", 5),
        row("TWO", 5, wh="WH-A"),
        row("TWO", 5, wh="WH-B"),
        row("NONE", 5, unit="faco", wh="WH-CO"),
        row("CO", 5, unit="faco", wh="WH-CO"),
    ]
    plan = plan_corrections(decision, rows)
    assert set(by_sku(plan)) == {"ONE", "CO"}
    why = {e["sku"]: e["why"] for e in plan["skipped"]}
    assert why["TWO"].startswith(SEVERAL_WAREHOUSES) and '"FACL"' in why["TWO"]
    assert why["NONE"].startswith(NOT_LISTED)
    assert plan["counts"]["FACL"]["skipped"] == 2
    # The connection's extra names the warehouse where a unit has several.
    named = plan_corrections(decision, rows, warehouses={"facl": "WH-B"})
    assert by_sku(named)["TWO"]["warehouse"] == {"SellerWarehouseId": "WH-B"}
    assert {e["sku"] for e in named["skipped"]} == {"ONE", "NONE"}  # not in WH-B


def test_rows_that_do_not_name_their_unit_are_the_connections():
    decision = decide_shortages(pending("A", 1), StockFigures({("FACL", "A"): 0}, ON_HAND))
    bare = WarehouseStock("A", 3, "", "WH-1", "")
    assert by_sku(plan_corrections(decision, [bare], default_unit="FACL"))["A"]["target"] == 0
    assert plan_corrections(decision, [bare], default_unit="FACO")["entries"] == []


def found_with_corrections(n: int, conn: str = "seller_center_default"):
    items = [i for k in range(n) for i in pending(f"S{k}", 1)]
    figures = StockFigures({("FACL", f"S{k}"): 0 for k in range(n)}, ON_HAND)
    decision = decide_shortages(items, figures)
    found = found_payload(ScanResult(items=items, stock=figures, decision=decision), "item", conn)
    found["stock_corrections"] = plan_corrections(decision, [row(f"S{k}", 3) for k in range(n)])
    return found


PARAMS = {
    "max_cancellations": 500,
    "max_cancel_fraction": 1.0,
    "fraction_min_items": 20,
    "max_stock_corrections": 3,
    "dry_run": False,
    "reason_detail": "Out of stock",
    "seller_center_conn_id": "seller_center_default",
    "max_concurrency": 4,
    "batch_size": 100,
    "require_approval": "on_brake",
}


def test_the_brake_holds_corrections_with_the_cancellations_and_the_report_lists_them():
    found = found_with_corrections(4)
    assert [t.limit for t in trips_for(found, PARAMS)] == ["max_stock_corrections"]
    plan = plan_run([found], ["seller_center_default"], PARAMS, hitl_available=True)
    assert plan["connections"][0]["status"] == HELD and plan["auto"] == []
    assert len(plan["corrections"]["seller_center_default"]) == 4
    assert "lowering 4 stock figure(s)" in plan["approval"]["subject"]
    report = plan["approval"]["report"]
    assert "| SKU | Business unit | Warehouse | From | To |" in report
    assert "| S0 | FACL | SellerWarehouseId WH-CL | 4 | 0 |" in report
    within = plan_run(
        [found_with_corrections(3)], ["seller_center_default"], PARAMS, hitl_available=True
    )
    assert within["connections"][0]["status"] == "planned"
    blocked = plan_run([found], ["seller_center_default"], PARAMS, hitl_available=False)
    assert blocked["connections"][0]["status"] == "blocked" and not blocked["corrections"]
    dry = render_report(
        [(found, plan["connections"][0])], mode="on_brake", dry_run=True, hitl_available=True
    )
    assert "4 stock figure(s) would be lowered" in dry


def test_an_approval_makes_only_the_corrections_it_showed_from_fresh_figures():
    asked = found_with_corrections(2)["stock_corrections"]["entries"]
    now = found_with_corrections(3)["stock_corrections"]["entries"]
    assert [e["sku"] for e in still_needed(asked, now)] == ["S0", "S1"]


def test_the_settings_refuse_lower_without_a_warehouse_and_a_run_cannot_turn_it_on():
    with pytest.raises(SettingsError, match="stock source other than Seller Center"):
        check_settings({"correct_stock": "lower"}, hitl_available=True)
    with pytest.raises(SettingsError, match="correct_stock='up'.*off, lower"):
        check_settings({"correct_stock": "up"}, hitl_available=True)
    csv = {"stock_source": "file:///tmp/stock.csv"}
    off = check_settings(csv, hitl_available=True)
    with pytest.raises(SettingsError, match="correct_stock='lower' would loosen"):
        run_settings(off, {"correct_stock": "lower"}, hitl_available=True)
    on = check_settings({**csv, "correct_stock": "lower"}, hitl_available=True)
    assert run_settings(on, {"correct_stock": "off"}, hitl_available=True)["correct_stock"] == "off"
    with pytest.raises(SettingsError, match="max_stock_corrections=500 would loosen"):
        run_settings(on, {"max_stock_corrections": 500}, hitl_available=True)


@pytest.mark.parametrize(
    "extra,named",
    [
        ("FACL:1", "str"),
        ({"XX": "1"}, "'XX'"),
        ({"FACL": ""}, "FACL's warehouse"),
        ({"FACL": ["1"]}, "FACL's warehouse"),
    ],
)
def test_a_malformed_warehouses_extra_fails_naming_the_field(monkeypatch, extra, named):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SC_WH",
        json.dumps(
            {
                "conn_type": "seller_center",
                "host": "https://x",
                "login": "u",
                "password": "k",
                "extra": {"warehouses": extra},
            }
        ),
    )
    with pytest.raises(ValueError, match="extra 'warehouses'") as caught:
        SellerCenterHook("sc_wh").warehouses()
    assert named in str(caught.value)


def test_applying_reads_first_and_sets_once(monkeypatch):
    with run_sandbox(seed=1, orders=20) as sandbox:
        sku = sandbox.state()["products"][0]["seller_sku"]
        unit = sandbox.business_unit
        monkeypatch.setenv("AIRFLOW_CONN_SC_APPLY", sandbox.airflow_conn_json())
        client = SellerCenterHook("sc_apply").get_conn()
        shown = sandbox.stock(sku)[unit]
        reserved = 0
        rows = [r for r in client.iter_warehouse_stock([sku]) if r.operator_code.upper() == unit]
        entry = {
            "business_unit": unit,
            "sku": sku,
            "warehouse": {"SellerWarehouseId": rows[0].seller_warehouse_id},
            "on_hand": 1,
            "reserved": reserved,
            "remaining": reserved,
            "sellable": shown,
            "declared": shown,
            "target": 1,
            "target_sellable": 1,
            "status": LOWER,
        }
        dry, _ = apply_corrections(client, [entry], phase=BEFORE, dry_run=True)
        assert dry[0]["outcome"] == WOULD_LOWER and sandbox.stock(sku)[unit] == shown
        done, deferred = apply_corrections(client, [entry], phase=BEFORE, dry_run=False)
        assert done[0]["outcome"] == LOWERED and not deferred
        assert sandbox.stock(sku)[unit] == 1
        sandbox.clear_requests_log()
        again, _ = apply_corrections(client, [entry], phase=BEFORE, dry_run=False)
        assert again[0]["outcome"] == UNCHANGED
        assert [r["action"] for r in sandbox.requests_log()] == ["GetStock"]
        assert apply_corrections(client, [entry], phase=AFTER, dry_run=False) == ([], [])
