"""The example DAG end to end under injected faults: it loses nothing, touches nothing it
should not, and leaks nothing (issue 7).

Each seed is one `airflow dags test` run, at DEBUG log level, against a sandbox that fails
a fifth of the API requests with every fault kind (E429, E006, E021, HTTP 500/502/503, a
dropped connection, an answer held 3 s past the connection's 1.5 s timeout, and a
cancellation applied whose answer is then lost) and throttles at 30 requests/s. The run is
made once per seed (a module fixture); the tests below each check one promise about it.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_seller_provider.client.signing import sign
from airflow_seller_provider.sandbox.faults import ALL_KINDS
from airflow_seller_provider.sandbox.testing import run_sandbox
from tests.e2e.helpers import expected_short, items_by_id, run_dag, save_log, summary_from_log
from tests.secret_guard import SIGNATURE_VALUE, find_leaks, register_secret

pytestmark = pytest.mark.slow

# Seeds whose data oversell 116-149 items (orders=500, Seller Center stock below zero in
# each country): a few hundred API requests a run at 20% faults, every kind many times.
SEEDS = (1, 4, 8)
ORDERS = 500
FAULT_RATE = 0.2
CANCEL = "SetStatusToCanceled"
CONN_EXTRA = {"timeout": 1.5, "max_retries": 8, "rate_limit": 25}

# The one known leak, Airflow's and not ours: Airflow 3.3.2's in-process test supervisor
# (`dag.test()`, `airflow dags test`) logs each message a task sends it at DEBUG, and for
# MaskSecret (sent when a connection's password is registered with the secret masker) that
# body is the secret itself: `Sending request  msg=MaskSecret(value='<the key>', ...)`. The
# real supervisor logs "(body omitted)" instead. Exactly that part of exactly those lines
# is cut before checking; the rest of the line is still checked (README, "Secrets").
_AIRFLOW_MASK_SECRET = re.compile(r"msg=MaskSecret\(value='[^']*', name=[^,]*, type='MaskSecret'\)")


def without_airflow_mask_secret_body(line: str) -> str:
    if "Sending request" in line:
        return _AIRFLOW_MASK_SECRET.sub("msg=MaskSecret(<cut by the test>)", line)
    return line


@dataclass
class FaultRun:
    seed: int
    api_key: str
    code: int
    output: str
    before: dict[str, Any]
    after: dict[str, Any]
    predicted: set[int]
    requests: list[dict[str, Any]]
    counts: dict[int, int]


RUNS: dict[int, FaultRun] = {}


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def fault_run(request: pytest.FixtureRequest, airflow_db: Path) -> FaultRun:
    seed = request.param
    # A key of this run only: any trace of it in the output can only be a leak.
    api_key = register_secret(f"rel-{seed}-{secrets.token_urlsafe(24)}")
    with run_sandbox(
        seed=seed,
        orders=ORDERS,
        api_key=api_key,
        rate_limit=30,
        fault_rate=FAULT_RATE,
        fault_delay_s=3,
        fault_kinds=None,  # every kind, "lost" included
        negative_stock="show",  # short items on Seller Center's own stock (default: clamped)
    ) as sandbox:
        before = sandbox.state()
        predicted = expected_short(before, sandbox.user_id)
        assert len(predicted) > 100, "the seed must oversell enough items to meet faults"
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "DEBUG")
            code, output = run_dag(sandbox.airflow_conn_json(CONN_EXTRA))
        run = FaultRun(
            seed=seed,
            api_key=api_key,
            code=code,
            output=output,
            before=before,
            after=sandbox.state(),
            predicted=predicted,
            requests=sandbox.requests_log(),
            counts=sandbox.cancellation_counts(),
        )
    RUNS[seed] = run
    return run


def newly_canceled(run: FaultRun) -> set[int]:
    old, new = items_by_id(run.before), items_by_id(run.after)
    return {
        i
        for i, item in new.items()
        if item["status"] == "canceled" and old[i]["status"] != "canceled"
    }


def faulted(run: FaultRun) -> list[dict[str, Any]]:
    return [r for r in run.requests if r.get("fault")]


def run_id_of(output: str) -> str:
    found = re.findall(
        r"DagRun Finished: dag_id=cancel_short_stock_items, .*?run_id=([^,\s]+)", output
    )
    assert found, "no 'DagRun Finished' line in the output"
    return found[-1]


# ------------------------------------------------------------------- the run itself


def test_the_run_succeeds_within_its_task_retries(fault_run: FaultRun) -> None:
    assert fault_run.code == 0, save_log(fault_run.output, f"fault-run-seed-{fault_run.seed}")
    assert "state=success" in fault_run.output
    # The faults were real: about a fifth of the requests, cancellations among them.
    faults = faulted(fault_run)
    assert len(faults) >= 0.1 * len(fault_run.requests), Counter(f["fault"] for f in faults)
    assert any(f["action"] == CANCEL for f in faults)


# ------------------------------------------------------------------ loses nothing


def test_every_short_item_is_canceled_exactly_once(fault_run: FaultRun) -> None:
    assert newly_canceled(fault_run) == fault_run.predicted
    counts = {i: fault_run.counts.get(i) for i in fault_run.predicted}
    assert counts == dict.fromkeys(fault_run.predicted, 1), "a cancellation applied twice or never"
    items = items_by_id(fault_run.after)
    assert {(items[i]["reason"], items[i]["reason_detail"]) for i in fault_run.predicted} == {
        ("SHORTAGE", "Out of stock")
    }


# --------------------------------------------------------- touches nothing else


def test_nothing_that_was_not_short_is_touched(fault_run: FaultRun) -> None:
    before, after, short = fault_run.before, fault_run.after, fault_run.predicted
    old, new = items_by_id(before), items_by_id(after)
    assert old.keys() == new.keys()
    assert [i for i in old if i not in short and old[i] != new[i]] == []
    for key in before.keys() - {"orders", "cancellations", "products"}:
        assert after[key] == before[key], key
    # The declared quantities are untouched; the derived "stock" follows the cancellations
    # (each canceled item releases the unit it reserved).
    assert declared(after) == declared(before)
    old_orders = {o["order_id"]: o for o in before["orders"]}
    for order in after["orders"]:
        previous = old_orders[order["order_id"]]
        if any(item["order_item_id"] in short for item in order["items"]):
            # A cancellation moves the order's updated_at; nothing else of the order.
            keep = set(order) - {"updated_at", "items"}
            assert {k: order[k] for k in keep} == {k: previous[k] for k in keep}
        else:
            assert order == previous
    assert {i for i, n in fault_run.counts.items() if n} == short


def declared(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in p.items() if k != "stock"} for p in state["products"]]


def test_the_summary_matches_the_sandbox_state(fault_run: FaultRun, airflow_db: Path) -> None:
    summary = summary_from_log(fault_run.output)
    done = newly_canceled(fault_run)
    assert summary["short"] == len(fault_run.predicted)
    assert (
        summary["canceled"] + summary["already_canceled"] == len(done) == len(fault_run.predicted)
    )
    assert summary["failed"] == 0 and summary["would_cancel"] == 0
    # The ids too, as summarize pushed them to XCom.
    (pushed,) = xcom_values(
        airflow_db, run_id_of(fault_run.output), "short_stock.summarize", "summary"
    )
    ids = pushed["ids"]
    assert set(ids["canceled"]) | set(ids["already_canceled"]) == done
    assert ids["failed"] == [] and pushed["failures"] == []


def xcom_values(home: Path, run_id: str, task_id: str, key: str) -> list[Any]:
    with sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT value FROM xcom WHERE run_id = ? AND task_id = ? AND key = ?",
            (run_id, task_id, key),
        ).fetchall()
    return [json.loads(value) for (value,) in rows]


# -------------------------------------------------------------------- leaks nothing


def sent_signatures(run: FaultRun) -> set[str]:
    """The Signatures of the requests the sandbox accepted, recomputed from their logged
    parameters (the log keeps values up to 200 characters, so long OrderIdLists are left
    out)."""
    found = set()
    for entry in run.requests:
        params = entry.get("params") or {}
        if entry.get("verdict") == "ok" and all(len(v) < 200 for v in params.values()):
            found.add(sign(params, run.api_key))
    return found


def db_rows(home: Path) -> dict[str, list[str]]:
    """Every row of every table of the metadata DB, as text."""
    with sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: [repr(row) for row in db.execute(f'SELECT * FROM "{t}"')] for t in tables}


def test_no_secret_in_logs_xcom_or_rendered_fields(fault_run: FaultRun, airflow_db: Path) -> None:
    key = fault_run.api_key
    signatures = sent_signatures(fault_run)
    assert len(signatures) > 50
    secret_values = [key, *signatures]

    # 1. The whole output of the run at DEBUG: every log line of every task, with the
    # tracebacks of the retried faults.
    output = fault_run.output
    task_logs = "\n".join(
        path.read_text(errors="replace")
        for path in (airflow_db / "logs").rglob("*")
        if path.is_file()
    )
    # DEBUG really was on (Airflow 3 prints "[debug", 2.11 " DEBUG - ", in the output or in
    # the task log files).
    everything = f"{output}\n{task_logs}"
    assert "[debug" in everything or " DEBUG - " in everything
    assert "Signature=[redacted]" in everything
    lines = [without_airflow_mask_secret_body(line) for line in output.splitlines()]
    assert find_leaks("\n".join(lines), secret_values) == []
    assert not SIGNATURE_VALUE.search("\n".join(lines))

    # 2. The task log files, if the run wrote any.
    for path in (airflow_db / "logs").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            text = "\n".join(without_airflow_mask_secret_body(x) for x in text.splitlines())
            assert find_leaks(text, secret_values) == [], path

    # 3. The metadata DB, every table: XComs, rendered template fields, the audit log...
    run_id = run_id_of(output)
    rows = db_rows(airflow_db)
    mine = {t: [r for r in found if run_id in r] for t, found in rows.items()}
    assert len(mine["xcom"]) >= 5 and mine["rendered_task_instance_fields"], "nothing to check"
    assert any("order_item_id" in r for r in mine["rendered_task_instance_fields"])
    for table, found in rows.items():
        assert find_leaks("\n".join(found), secret_values) == [], table


# --------------------------------------------------------------- over all the runs


def test_every_fault_kind_was_met() -> None:
    """Over the runs, every kind of fault happened, and cancellations were applied while
    their answer was lost: the exactly-once checks above were not passed by luck."""
    missing = [seed for seed in SEEDS if seed not in RUNS]
    if missing:
        pytest.skip(f"needs the runs of every seed; not run: {missing}")
    faults = [f for run in RUNS.values() for f in faulted(run)]
    assert set(Counter(f["fault"] for f in faults)) == set(ALL_KINDS)
    applied_unanswered = [
        f
        for f in faults
        if f["action"] == CANCEL and f["fault"] in ("lost", "delay") and f["result"] == "ok"
    ]
    assert applied_unanswered
