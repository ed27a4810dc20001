"""The ledger on SQLite through a real Airflow connection: DDL, upserts, the key, reading,
the refusals, the records the workflow writes, settling, and the console script."""

from __future__ import annotations

import json
import sqlite3

import pytest

from airflow_seller_provider.ledger import cli
from airflow_seller_provider.ledger import table as t
from airflow_seller_provider.ledger.store import Ledger, LedgerError
from airflow_seller_provider.operators.outcomes import Outcome, outcome_payload
from airflow_seller_provider.sandbox.testing import run_sandbox
from airflow_seller_provider.short_stock.records import (
    outcome_rows,
    planned_rows,
    refused,
    settle,
)


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Ledger:
    path = tmp_path / "books.db"
    monkeypatch.setenv("AIRFLOW_CONN_BOOKS", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    books = Ledger.open("books")
    assert books.ensure_table() is True
    return books


def rows_in(ledger: Ledger) -> list[tuple]:
    path = ledger.hook.get_connection(ledger.conn_id).host
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT run_id, kind, item_key, outcome, recorded_at, updated_at FROM "
            f"{ledger.table} ORDER BY item_key"
        ).fetchall()


def row(item: int, outcome: str = t.PLANNED, run: str = "r1", **more) -> dict:
    return {
        "run_id": run,
        "kind": t.CANCEL,
        "item_key": str(item),
        "seller_center_conn_id": "sc",
        "order_item_id": item,
        "order_id": item * 10,
        "outcome": outcome,
        **more,
    }


def test_the_table_and_its_index_are_created_once(ledger):
    assert ledger.ensure_table() is False
    path = ledger.hook.get_connection(ledger.conn_id).host
    with sqlite3.connect(path) as db:
        columns = [r[1] for r in db.execute(f"PRAGMA table_info({ledger.table})")]
        indexes = {r[1]: r[2] for r in db.execute(f"PRAGMA index_list({ledger.table})")}
    assert columns == list(t.NAMES)
    assert f"{ledger.table}_order_item" in indexes
    assert any(unique for unique in indexes.values())  # the key's UNIQUE constraint


def test_an_upsert_updates_and_never_duplicates(ledger):
    ledger.write([row(1, sku="A", figure=3), row(2)])
    first = rows_in(ledger)
    ledger.write([row(1, "canceled"), row(2, "failed", error_code="E021")])
    ledger.write([row(1, "canceled")])  # a retry writes the same again
    after = rows_in(ledger)
    assert [(r[2], r[3]) for r in after] == [("1", "canceled"), ("2", "failed")]
    assert [r[4] for r in after] == [r[4] for r in first]  # recorded_at kept
    (story,) = ledger.history(1)
    assert story["sku"] == "A" and story["figure"] == 3  # columns not given are kept
    # Another run's row of the same item is another row.
    ledger.write([row(1, run="r2")])
    assert len(ledger.history(1)) == 2
    assert [r["run_id"] for r in ledger.planned("sc")] == ["r2"]
    assert [r["item_key"] for r in ledger.run_unsettled("r2")] == ["1"]
    assert {r["item_key"] for r in ledger.run_unsettled("r1")} == {"2"}  # failed: unsettled


def test_the_key_is_unique_in_the_database_itself(ledger):
    path = ledger.hook.get_connection(ledger.conn_id).host
    ledger.write([row(7)])
    with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute(
            f"INSERT INTO {ledger.table} (run_id, seller_center_conn_id, kind, item_key, "
            "outcome, recorded_at, updated_at) VALUES ('r1', 'sc', 'cancel', '7', 'x', '', '')"
        )


def test_a_write_the_database_refuses_writes_nothing(ledger):
    with pytest.raises(LedgerError, match="writing 2 row"):
        ledger.write([row(1), {**row(2), "outcome": None}])  # outcome is NOT NULL
    assert rows_in(ledger) == []


@pytest.mark.parametrize(
    "conn,named",
    [
        (None, "cannot read Airflow connection 'nowhere'"),
        (
            {"conn_type": "seller_center", "host": "https://x", "login": "u", "password": "k"},
            "not a database hook",
        ),
    ],
)
def test_a_ledger_connection_that_is_missing_or_not_a_database_is_refused(monkeypatch, conn, named):
    if conn:
        monkeypatch.setenv("AIRFLOW_CONN_NOWHERE", json.dumps(conn))
    with pytest.raises(LedgerError, match=f"ledger_conn_id 'nowhere'.*{named}"):
        Ledger.open("nowhere")


@pytest.mark.parametrize("name", ["drop table x", "a;b", "1abc", "a.b.c", ""])
def test_a_table_name_that_is_not_plain_is_refused(ledger, name):
    with pytest.raises(LedgerError, match="not a plain table name"):
        Ledger.open("books", name)


def test_the_records_of_a_batch_and_of_a_retry():
    payload = outcome_payload(
        [
            Outcome(1, "canceled"),
            Outcome(2, "already_canceled"),
            Outcome(3, "no_longer_pending", "shipped"),
            Outcome(4, "failed", "E021", "try again", retryable=True),
        ],
        dry_run=False,
        seller_center_conn_id="sc",
    )
    first = {r["item_key"]: r for r in outcome_rows("r", payload, approval=t.AUTO)}
    assert {k: r["outcome"] for k, r in first.items()} == {
        "1": "canceled",
        "2": "already_canceled",
        "3": "no_longer_pending",
        "4": "failed",
    }
    assert first["4"]["error_code"] == "E021"
    # A retry: item 2's row was planned by this run, so the interrupted try canceled it.
    retry = outcome_rows("r", payload, approval=t.AUTO, retry=True, planned={2})
    assert {r["item_key"]: r["outcome"] for r in retry}["2"] == "canceled"


def test_planned_rows_carry_what_decided_them():
    found = {
        "seller_center_conn_id": "sc",
        "short": [{"order_item_id": 5, "order_id": 50}],
        "stock": {"source": "file:///w.csv", "counts": "on_hand", "figures": 1},
        "decided": [
            {
                "order_item_id": 5,
                "order_id": 50,
                "sku": "A",
                "business_unit": "FACL",
                "package_id": "P",
                "figure": 2,
                "ahead": 2,
            }
        ],
    }
    (r,) = planned_rows("run", found, approval=t.AUTO)  # type: ignore[arg-type]
    assert (r["sku"], r["business_unit"], r["figure"], r["ahead"], r["stock_counts"]) == (
        "A",
        "FACL",
        2,
        2,
        "on_hand",
    )
    assert r["outcome"] == t.PLANNED and r["item_key"] == "5"
    no = refused([{**r, "kind": t.CANCEL}], {"sc": ("rejected", "ops")})
    assert no[0]["outcome"] == t.NOT_SENT and no[0]["responded_by"] == "ops"


def test_settling_reads_the_api_and_sends_nothing(ledger, monkeypatch):
    from airflow_seller_provider.hooks.seller_center import SellerCenterHook

    with run_sandbox(seed=2, orders=30) as sandbox:
        monkeypatch.setenv("AIRFLOW_CONN_SC_SETTLE", sandbox.airflow_conn_json())
        client = SellerCenterHook("sc_settle").get_conn()
        state = sandbox.state()
        items = [
            (o["order_id"], i)
            for o in state["orders"]
            for i in o["items"]
            if i["status"] == "pending" and i["shipping_type"] != "Fulfillment"
        ]
        (o1, canceled), (o2, pending), (o3, shipped) = items[:3]
        client.cancel_order_item(canceled["order_item_id"], "SHORTAGE")
        sandbox.set_ready_to_ship([shipped["order_item_id"]])
        left = [
            {**row(i["order_item_id"]), "order_id": o}
            for o, i in ((o1, canceled), (o2, pending), (o3, shipped))
        ]
        ledger.write(left)
        sandbox.clear_requests_log()
        settled = {
            r["item_key"]: r["outcome"] for r in settle(ledger, client, ledger.planned("sc"))
        }
        assert settled == {
            str(canceled["order_item_id"]): "canceled",
            str(pending["order_item_id"]): t.NOT_SENT,
            str(shipped["order_item_id"]): "no_longer_pending",
        }
        assert {r["action"] for r in sandbox.requests_log()} == {"GetMultipleOrderItems"}
        assert ledger.planned("sc") == []
        # A failure whose answer was lost: the API shows the item canceled, so it was.
        ledger.write(
            [
                {
                    **row(canceled["order_item_id"], "failed", run="r9", error_code=None),
                    "order_id": o1,
                },
                {
                    **row(pending["order_item_id"], "failed", run="r9", error_code="E021"),
                    "order_id": o2,
                },
            ]
        )
        again = settle(ledger, client, ledger.unsettled("sc", "2000-01-01"))
        assert [(r["item_key"], r["outcome"]) for r in again] == [
            (str(canceled["order_item_id"]), "canceled")
        ]
        (still,) = [r for r in ledger.history(pending["order_item_id"]) if r["run_id"] == "r9"]
        assert (still["outcome"], still["error_code"]) == ("failed", "E021")


def test_explain_tells_an_items_story_and_fails_for_an_unknown_one(ledger, capsys):
    ledger.write(
        [
            row(
                9,
                "canceled",
                sku="SKU-9",
                business_unit="FACL",
                stock_source="sql warehouse",
                stock_counts="on_hand",
                figure=1,
                ahead=1,
                approval="approved",
                responded_by="ops",
            )
        ]
    )
    assert cli.main(["explain", "--conn-id", "books", "9"]) == cli.FOUND
    out = capsys.readouterr().out
    for text in ("run r1", "canceled", "SKU-9 in FACL", "sql warehouse", "figure 1", "by ops"):
        assert text in out, out
    assert cli.main(["explain", "--conn-id", "books", "404"]) == cli.UNKNOWN
    assert "not in the ledger" in capsys.readouterr().err
    assert cli.main(["explain", "--conn-id", "nowhere", "9"]) == cli.BROKEN
