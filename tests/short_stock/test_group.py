"""The task group factory: task ids under the group, dependencies, the settings check, and
two groups in one DAG; and the one definition of the settings it reads."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from airflow_seller_provider.compat import DAG, HITL_AVAILABLE, task
from airflow_seller_provider.short_stock import (
    SETTINGS,
    short_stock_cancellation,
    short_stock_params,
)
from airflow_seller_provider.short_stock.settings import (
    DEFAULTS,
    SettingsError,
    author_settings,
    check_settings,
    fixed_settings_note,
)

TASKS = {
    "list_connections",
    "find_short_items",
    "plan_cancellations",
    "cancel_short_items",
    "release_connections",
    "publish_cancellations",
    "summarize",
} | ({"held_connections", "approve_cancellations"} if HITL_AVAILABLE else set())


def new_dag(dag_id: str = "seller_dag") -> DAG:
    return DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False)


def test_task_ids_live_under_the_group_and_the_workflow_runs_in_order():
    with new_dag() as dag:
        group = short_stock_cancellation()
    assert group.group_id == "short_stock"
    assert {t.task_id for t in dag.tasks} == {f"short_stock.{name}" for name in TASKS}

    def downstream(name: str) -> set[str]:
        return {t.split(".", 1)[1] for t in dag.get_task(f"short_stock.{name}").downstream_task_ids}

    assert downstream("list_connections") == {"find_short_items"}
    assert downstream("find_short_items") == {"plan_cancellations"}
    expected_after_plan = {"cancel_short_items"}
    if HITL_AVAILABLE:
        expected_after_plan.add("held_connections")
        assert downstream("held_connections") == {"approve_cancellations"}
        assert downstream("approve_cancellations") == {"publish_cancellations"}
    assert downstream("plan_cancellations") == expected_after_plan
    assert downstream("cancel_short_items") == {"release_connections"}
    assert downstream("release_connections") == {"publish_cancellations"}
    assert downstream("publish_cancellations") == {"summarize"}
    assert downstream("summarize") == set()
    assert dag.get_task("short_stock.list_connections").max_active_tis_per_dag == 1
    for name in ("plan_cancellations", "release_connections", "publish_cancellations", "summarize"):
        rule = dag.get_task(f"short_stock.{name}").trigger_rule
        assert getattr(rule, "value", rule) == "all_done", name
    for name in ("find_short_items", "cancel_short_items"):
        assert dag.get_task(f"short_stock.{name}").pool == "seller_center"


def test_the_group_composes_like_a_task_in_a_seller_dag():
    with new_dag():

        @task
        def refresh() -> None:
            pass

        @task
        def notify() -> None:
            pass

        before, after = refresh(), notify()
        group = short_stock_cancellation(dry_run=True)
        before >> group >> after
    assert before.operator.downstream_task_ids == {"short_stock.list_connections"}
    assert after.operator.upstream_task_ids == {"short_stock.summarize"}


def test_two_groups_in_one_dag_have_their_own_tasks_and_reads(tmp_path):
    with new_dag() as dag:
        short_stock_cancellation(
            group_id="warehouse_cl",
            seller_center_conn_id="seller_center_cl",
            stock_source=(tmp_path / "stock.csv").as_uri(),
        )
        short_stock_cancellation(group_id="seller_center_co", seller_center_conn_id="sc_co")
    for group_id in ("warehouse_cl", "seller_center_co"):
        assert {t.task_id for t in dag.tasks if t.task_id.startswith(f"{group_id}.")} == {
            f"{group_id}.{name}" for name in TASKS
        }
    assert len(dag.tasks) == 2 * len(TASKS)
    if HITL_AVAILABLE:  # the approval reads its own group's plan
        for group_id in ("warehouse_cl", "seller_center_co"):
            approval = dag.get_task(f"{group_id}.approve_cancellations")  # mapped per connection
            assert approval.partial_kwargs["plan_task_id"] == f"{group_id}.plan_cancellations"
            assert approval.partial_kwargs["group_id"] == group_id


def test_the_same_group_id_twice_is_refused():
    with new_dag(), pytest.raises(Exception, match="short_stock"):
        short_stock_cancellation()
        short_stock_cancellation()


@pytest.mark.parametrize(
    ("settings", "named", "allowed"),
    [
        ({"max_cancelations": 5}, "max_cancelations", "max_cancellations"),
        ({"max_cancel_fraction": 1.5}, "max_cancel_fraction=1.5", "from 0 to 1"),
        ({"require_approval": "sometimes"}, "require_approval='sometimes'", "on_brake"),
        ({"lookback_days": 0}, "lookback_days=0", "from 1 to 365"),
        ({"batch_size": "100"}, "batch_size='100'", "an integer"),
        ({"dry_run": "yes"}, "dry_run='yes'", "true or false"),
        ({"stock_counts": "all"}, "stock_counts='all'", "on_hand"),
        ({"stock_source": "sql"}, "sql", "stock_conn_id and stock_sql"),
        ({"stock_source": "ftp://x/stock.xlsx"}, "ftp://x/stock.xlsx", "name it .csv"),
        ({"stock_sql": "SELECT 1"}, "stock_sql", "sql"),
        ({"seller_center_conn_ids": ["a", "a"]}, "'a'", "more than once"),
        ({"seller_center_conn_ids": "a,b"}, "seller_center_conn_ids='a,b'", "list"),
        ({"correct_stock": "raise"}, "correct_stock='raise'", "off, lower"),
        ({"correct_stock": "lower"}, "correct_stock='lower'", "stock source other than"),
        ({"max_stock_corrections": -1}, "max_stock_corrections=-1", "0 or more"),
    ],
)
def test_an_unknown_setting_or_bad_value_fails_when_the_dag_file_is_parsed(
    settings, named, allowed
):
    with new_dag(), pytest.raises(SettingsError) as caught:
        short_stock_cancellation(**settings)
    message = str(caught.value)
    assert named in message and allowed in message, message
    assert "group_id='short_stock'" in message


def test_always_asking_is_refused_at_parse_without_human_in_the_loop():
    with pytest.raises(SettingsError, match="Airflow 3.1"):
        check_settings({"require_approval": "always"}, hitl_available=False)
    assert check_settings({"require_approval": "always"}, hitl_available=True)


def test_the_settings_and_who_may_change_them():
    assert list(SETTINGS) == [
        "seller_center_conn_id",
        "seller_center_conn_ids",
        "require_approval",
        "approval_timeout_minutes",
        "approvers",
        "dry_run",
        "lookback_days",
        "reason_detail",
        "batch_size",
        "max_concurrency",
        "max_cancellations",
        "max_cancel_fraction",
        "fraction_min_items",
        "correct_stock",
        "max_stock_corrections",
        "stock_source",
        "stock_conn_id",
        "stock_sql",
        "stock_counts",
        "notify_emails",
        "notify_smtp_conn_id",
        "notify_slack_conn_id",
        "ledger_conn_id",
        "ledger_table",
        "run_may_change",
    ]
    author = {n for n, s in SETTINGS.items() if s.kind == "author"}
    assert author == {
        "seller_center_conn_id",
        "seller_center_conn_ids",
        "stock_source",
        "stock_conn_id",
        "stock_sql",
        "stock_counts",
        "notify_emails",
        "notify_smtp_conn_id",
        "notify_slack_conn_id",
        "ledger_conn_id",
        "ledger_table",
        "run_may_change",
    }
    safety = {n: s.safer for n, s in SETTINGS.items() if s.safer}
    assert safety == {
        "require_approval": "stricter",
        "approval_timeout_minutes": "lower",
        "dry_run": "on",
        "max_cancellations": "lower",
        "max_cancel_fraction": "lower",
        "fraction_min_items": "lower",
        "correct_stock": "off",
        "max_stock_corrections": "lower",
        "approvers": "subset",
    }


def test_the_trigger_form_shows_only_what_a_run_may_change_with_the_authors_values():
    params = short_stock_params(max_cancellations=40, stock_counts="on_hand")
    assert list(params) == [n for n, s in SETTINGS.items() if s.kind == "run"]
    assert "stock_counts" not in params and len(params) == 13
    assert params["max_cancellations"].value == 40
    assert "may only lower it (the DAG's value: 40)" in params["max_cancellations"].description
    assert params["lookback_days"].value == DEFAULTS["lookback_days"] == 30
    assert params["max_cancel_fraction"].schema["maximum"] == 1
    assert params["lookback_days"].description == SETTINGS["lookback_days"].description
    widened = short_stock_params(run_may_change=["stock_source", "max_cancellations"])
    assert "stock_source" in widened and "stock_conn_id" not in widened
    assert "may only lower" in widened["max_cancellations"].description  # still the rule's text
    note = fixed_settings_note(stock_source="s3://b/stock.csv")
    assert '`stock_source`: `"s3://b/stock.csv"`' in note and "max_cancellations" not in note
    with pytest.raises(SettingsError, match="max_cancellations=-1"):
        short_stock_params(max_cancellations=-1)


def test_deployment_settings_come_from_airflow_config(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW__SELLER_CENTER__SHORT_STOCK_SETTINGS",
        '{"stock_source": "s3://bucket/stock.csv", "max_cancellations": 40}',
    )
    author = author_settings({"max_cancellations": 30}, hitl_available=True)
    assert author["stock_source"] == "s3://bucket/stock.csv"  # the deployment's
    assert author["max_cancellations"] == 30  # the group's arguments win
    with new_dag() as dag:
        short_stock_cancellation()
    assert "short_stock.find_short_items" in dag.task_ids
    for text, why in [
        ("{nope", "is not JSON"),
        ("[1]", "is a JSON list"),
        ('{"max_cancellation": 1}', "unknown setting 'max_cancellation'"),
        ('{"lookback_days": 0}', "lookback_days=0"),
    ]:
        monkeypatch.setenv("AIRFLOW__SELLER_CENTER__SHORT_STOCK_SETTINGS", text)
        with pytest.raises(SettingsError, match=why) as caught:
            author_settings({}, hitl_available=True)
        assert "[seller_center] short_stock_settings" in str(caught.value)


def test_the_example_dag_is_short_and_reads_the_one_definition():
    from ..conftest import REPO

    source = (REPO / "dags" / "cancel_short_stock_items.py").read_text()
    assert len(source.splitlines()) <= 120
    assert "short_stock_cancellation(" in source and "short_stock_params(" in source


def test_the_docs_table_is_the_one_definition():
    """The docs build writes the table from ``settings_table()`` and the pages include it:
    no copy of it lives anywhere to drift."""
    import importlib.util

    from airflow_seller_provider.short_stock.settings import settings_table

    docs = Path(__file__).resolve().parents[2] / "docs"
    for page in ("settings.md", "workflow.md"):
        assert "{include} _generated/settings-table.md" in (docs / page).read_text(), page
    spec = importlib.util.spec_from_file_location("generated", docs / "_ext/generated_pages.py")
    assert spec and spec.loader
    source = (docs / "_ext/generated_pages.py").read_text()
    assert "settings_table()" in source and "settings-table.md" in source
    assert all(f"`{name}`" in settings_table() for name in SETTINGS)
