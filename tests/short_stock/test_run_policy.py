"""What a DAG run may change: every author setting refused from a run's conf, every safety
setting accepted when tightened and refused when loosened, the run settings free, and the
author's widening (``run_may_change``)."""

from __future__ import annotations

import pytest

from airflow_seller_provider.short_stock.run_policy import is_safer_or_same, run_settings
from airflow_seller_provider.short_stock.settings import (
    SETTINGS,
    SettingsError,
    check_settings,
)

AUTHOR = check_settings(
    {
        "seller_center_conn_ids": ["sc_cl", "sc_co"],
        "stock_source": "sql",
        "stock_conn_id": "warehouse",
        "stock_sql": "SELECT sku, units FROM stock",
        "stock_counts": "on_hand",
        "max_cancellations": 100,
        "max_cancel_fraction": 0.3,
        "fraction_min_items": 10,
        "approval_timeout_minutes": 60,
        "correct_stock": "lower",
        "max_stock_corrections": 50,
        "approvers": ["alice", "bob"],
        "notify_emails": ["ops@example.com"],
        "ledger_conn_id": "books",
    },
    hitl_available=True,
)

# One value per author setting that differs from AUTHOR's (and is valid on its own).
AUTHOR_CHANGES = {
    "seller_center_conn_id": "someone_elses_account",
    "seller_center_conn_ids": ["sc_cl", "sc_co", "sc_pe"],
    "stock_source": "tests.evil:run_anything",
    "stock_conn_id": "airflow_db",
    "stock_sql": "SELECT sku, units FROM other_table",
    "stock_counts": "sellable",
    "run_may_change": ["max_cancellations"],
    "ledger_conn_id": "airflow_db",
    "ledger_table": "other_books",
    "notify_emails": ["someone@elsewhere.example"],
    "notify_smtp_conn_id": "their_smtp",
    "notify_slack_conn_id": "their_slack",
}

# (setting, tighter, looser) around AUTHOR's value.
SAFETY = [
    ("max_cancellations", 50, 101),
    ("max_cancel_fraction", 0.1, 0.31),
    ("fraction_min_items", 5, 11),
    ("approval_timeout_minutes", 30, 61),
    ("require_approval", "always", "never"),
    ("max_stock_corrections", 10, 51),
    ("approvers", ["alice"], ["mallory"]),
]


def run(asked: dict, author: dict = AUTHOR) -> dict:
    return run_settings(author, asked, hitl_available=True)


def test_every_author_setting_is_listed_here():
    assert set(AUTHOR_CHANGES) == {n for n, s in SETTINGS.items() if s.kind == "author"}


@pytest.mark.parametrize(("name", "value"), sorted(AUTHOR_CHANGES.items()))
def test_a_run_cannot_change_an_author_setting(name, value):
    with pytest.raises(SettingsError) as caught:
        run({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name} is set by the DAG's author")
    assert "run_may_change" in message and "Security model" in message


@pytest.mark.parametrize("name", sorted(AUTHOR_CHANGES))
def test_the_authors_own_value_in_a_conf_is_no_change(name):
    assert run({name: AUTHOR[name]})[name] == AUTHOR[name]


@pytest.mark.parametrize(("name", "tighter", "looser"), SAFETY)
def test_safety_settings_only_tighten(name, tighter, looser):
    assert run({name: tighter})[name] == tighter
    with pytest.raises(SettingsError) as caught:
        run({name: looser})
    message = str(caught.value)
    assert message.startswith(f"{name}={looser!r} would loosen a safety setting")
    assert repr(AUTHOR[name]) in message


def test_dry_run_turns_on_and_off_only_where_the_author_left_it_off():
    assert run({"dry_run": True})["dry_run"] is True
    assert run({"dry_run": False})["dry_run"] is False
    careful = {**AUTHOR, "dry_run": True}
    assert run({"dry_run": True}, careful)["dry_run"] is True
    with pytest.raises(SettingsError, match="dry_run=False would loosen"):
        run({"dry_run": False}, careful)


def test_require_approval_orders_never_on_brake_always():
    assert [
        is_safer_or_same("stricter", v, "on_brake") for v in ("never", "on_brake", "always")
    ] == [
        False,
        True,
        True,
    ]
    always = {**AUTHOR, "require_approval": "always"}
    with pytest.raises(SettingsError, match="require_approval='on_brake' would loosen"):
        run({"require_approval": "on_brake"}, always)


def test_run_settings_change_freely_and_are_checked():
    asked = {"lookback_days": 7, "reason_detail": "Sin stock", "batch_size": 20}
    changed = run({**asked, "max_concurrency": 16, "not_ours": "ignored"})
    assert {k: changed[k] for k in asked} == asked and changed["max_concurrency"] == 16
    with pytest.raises(SettingsError, match="lookback_days=400"):
        run({"lookback_days": 400})
    assert run({"seller_center_conn_ids": ("sc_cl", "sc_co")})["seller_center_conn_ids"] == [
        "sc_cl",
        "sc_co",
    ]


def test_the_author_may_widen_what_a_run_changes():
    trusting = {**AUTHOR, "run_may_change": ["seller_center_conn_ids", "max_cancellations"]}
    assert run({"seller_center_conn_ids": ["sc_pe"]}, trusting)["seller_center_conn_ids"] == [
        "sc_pe"
    ]
    assert run({"max_cancellations": 5000}, trusting)["max_cancellations"] == 5000
    with pytest.raises(SettingsError, match="stock_source is set by the DAG's author"):
        run({"stock_source": "seller_center"}, trusting)
    with pytest.raises(SettingsError, match="max_cancel_fraction=0.9 would loosen"):
        run({"max_cancel_fraction": 0.9}, trusting)


def test_a_widened_source_is_still_checked_together():
    trusting = {**AUTHOR, "run_may_change": ["stock_sql"]}
    with pytest.raises(SettingsError, match="is a DROP statement"):
        run({"stock_sql": "DROP TABLE stock"}, trusting)
