"""What a DAG run may change, end to end through ``airflow dags test``: each escalation a
trigger form could try is refused before any request, changes nothing, runs no code and
shows no file's contents; a conf that only tightens goes ahead."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_seller_provider.sandbox.testing import Sandbox, run_sandbox

from .helpers import expected_short, run_dag, save_log, summary_from_log

pytestmark = pytest.mark.slow
SECRET = "TOPSECRET-7f3a"


@pytest.fixture(scope="module")
def shop() -> Iterator[Sandbox]:
    with run_sandbox(seed=3, orders=40) as sandbox:
        yield sandbox


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database behind an Airflow connection (target_db) that a hostile conf points at."""
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE stock (sku TEXT, units INTEGER)")
    db.close()
    monkeypatch.setenv(
        "AIRFLOW_CONN_TARGET_DB", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return path


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        found = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    return found


def refused(shop: Sandbox, conf: dict, name: str, *, settings: dict | None = None) -> str:
    """Run with ``conf``; assert it failed before any request and changed nothing."""
    before = shop.state()
    shop.clear_requests_log()
    code, log = run_dag(shop.airflow_conn_json(), conf, settings=settings)
    assert code != 0, save_log(log, name)
    assert shop.requests_log() == [], "refused before any request"
    assert shop.state() == before
    return log


def test_sql_on_any_connection_is_refused(shop, target, airflow_db):
    conf = {
        "stock_source": "sql",
        "stock_conn_id": "target_db",
        "stock_sql": "CREATE TABLE pwned (a INT)",
    }
    log = refused(shop, conf, "conf-sql")
    assert "stock_source is set by the DAG's author" in log
    assert tables(target) == {"stock"}, "the target database is unchanged"


def test_a_callable_named_by_a_conf_never_runs(shop, tmp_path, monkeypatch, airflow_db):
    mark = tmp_path / "mark"
    monkeypatch.setenv("ASP_SIDE_EFFECT_MARK", str(mark))
    log = refused(shop, {"stock_source": "tests.e2e.side_effects:touch"}, "conf-callable")
    assert "stock_source is set by the DAG's author" in log
    assert not mark.exists(), "the callable's module was neither imported nor called"


def test_a_file_named_by_a_conf_is_never_read(shop, tmp_path, airflow_db):
    path = tmp_path / "stock.csv"
    path.write_text(f"{SECRET},first line\nsku,units\nA,1\n")
    log = refused(shop, {"stock_source": path.as_uri()}, "conf-file")
    assert "stock_source is set by the DAG's author" in log
    assert SECRET not in log


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"max_cancellations": 100000}, "max_cancellations=100000 would loosen"),
        ({"max_cancel_fraction": 1.0}, "max_cancel_fraction=1.0 would loosen"),
        ({"require_approval": "never"}, "require_approval='never' would loosen"),
        ({"fraction_min_items": 1000}, "fraction_min_items=1000 would loosen"),
        ({"run_may_change": ["stock_source"]}, "run_may_change is set by the DAG's author"),
        ({"seller_center_conn_id": "someone_else"}, "seller_center_conn_id is set by"),
    ],
)
def test_a_conf_cannot_loosen_safety_or_widen_itself(shop, conf, message, airflow_db):
    log = refused(shop, conf, "conf-loosen")
    assert message in log


def test_dry_run_stays_on_where_the_author_turned_it_on(shop, airflow_db):
    log = refused(shop, {"dry_run": False}, "conf-dry-run", settings={"dry_run": True})
    assert "dry_run=False would loosen" in log


def test_a_conf_that_only_tightens_goes_ahead(airflow_db):
    # "show": short items on Seller Center's own stock, so that the dry run has something
    # it would cancel (the default sandbox clamps, and would leave nothing to hold back).
    with run_sandbox(seed=3, orders=40, negative_stock="show") as shop:
        before = shop.state()
        predicted = expected_short(before, shop.user_id)
        assert predicted
        conf = {"dry_run": True, "max_cancellations": 400, "lookback_days": 60}
        code, log = run_dag(shop.airflow_conn_json(), conf)
        assert code == 0, save_log(log, "conf-tighten")
        assert shop.state() == before
        assert summary_from_log(log)["would_cancel"] == len(predicted)
