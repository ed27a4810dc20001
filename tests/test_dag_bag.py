"""The DAG folder imports cleanly, and the example DAG is what the README promises."""

from __future__ import annotations

from datetime import timedelta

from airflow.models import DagBag

from .conftest import REPO
from .short_stock.test_group import TASKS as GROUP_TASKS

DAG_ID = "cancel_short_stock_items"


def load_bag() -> DagBag:
    # Airflow 3.3 dropped include_examples; AIRFLOW__CORE__LOAD_EXAMPLES=False covers both.
    return DagBag(dag_folder=str(REPO / "dags"))


def test_dag_folder_imports_without_errors():
    bag = load_bag()
    assert bag.import_errors == {}
    assert DAG_ID in bag.dags


def test_example_dag_shape_and_params():
    dag = load_bag().dags[DAG_ID]
    assert dag.catchup is False
    assert dag.max_active_runs == 16  # overlapping runs; one run per connection at a time
    assert dag.doc_md and "dry_run" in dag.doc_md
    timetable = dag.timetable  # Airflow 3: the SDK's ``delta``; 2.11: ``_delta``
    assert getattr(timetable, "delta", getattr(timetable, "_delta", None)) == timedelta(minutes=30)
    defaults = {name: dag.params[name] for name in dag.params}
    # The trigger form: what a run may change; the author's settings are in the doc.
    for name in ("seller_center_conn_id", "seller_center_conn_ids", "stock_source", "stock_sql"):
        assert name not in defaults
        assert f"`{name}`" in dag.doc_md
    assert defaults["dry_run"] is False
    assert defaults["lookback_days"] == 30
    assert defaults["fraction_min_items"] == 20
    for name in ("reason_detail", "batch_size", "max_cancellations", "max_cancel_fraction"):
        assert name in defaults
    assert defaults["max_concurrency"] == 8
    assert defaults["require_approval"] == "on_brake"
    assert defaults["approval_timeout_minutes"] == 120
    # Airflow 3.1+ adds the approval and the approved cancel (tests/short_stock/test_group.py).
    assert {t.task_id for t in dag.tasks} == {f"short_stock.{name}" for name in GROUP_TASKS}
    for name in ("plan_cancellations", "publish_cancellations", "summarize"):
        trigger_rule = dag.get_task(f"short_stock.{name}").trigger_rule
        assert getattr(trigger_rule, "value", trigger_rule) == "all_done", name


def test_the_warehouse_load_example_is_scheduled_on_its_asset():
    dag = load_bag().dags["cancel_short_stock_on_warehouse_load"]
    uri = "file:///var/lib/warehouse/stock.csv"
    assert f'`stock_source`: `"{uri}"`' in dag.doc_md
    assert '`stock_counts`: `"on_hand"`' in dag.doc_md
    # Airflow 3: an AssetTriggeredTimetable over the asset; 2.11: a DatasetTriggeredTimetable.
    timetable = dag.timetable
    condition = getattr(timetable, "asset_condition", None) or timetable.dataset_condition
    assert uri in repr(condition)
    assert "short_stock.find_short_items" in dag.task_ids
