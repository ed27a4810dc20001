"""Approving a large cancellation in Airflow's UI, in headless Chromium (issue 17).

A live Airflow (api-server, scheduler, dag-processor; SQLite, LocalExecutor) runs the real
``cancel_short_stock_items`` DAG against the sandbox. Each run trips the safety brake
(``max_cancellations`` 1) and waits in ``approve_cancellations`` (AWAITING_INPUT on Airflow
3.3: no triggerer needed). A person's path in the browser: Dags > the DAG > Runs > the run >
Required Actions > the approval task's page, where the Markdown report is checked against
counts worked out here from the sandbox's own data (``expected_short``, not the project's
code). Then:

1. **Approve**: the sandbox canceled exactly the planned items, each once.
2. **Reject**: nothing canceled; the run fails, its summary says "rejected".
3. No answer within ``approval_timeout_minutes`` = 1: nothing canceled; the approval task and
   the run fail, the summary says "timed_out".

The scenarios share one Airflow (module-scoped) and one sandbox, reset to its seeded state
before each. ``make test-browser`` runs it; elsewhere it skips.
"""

from __future__ import annotations

import collections
import os
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import pytest

from airflow_seller_provider.sandbox.testing import Sandbox, run_sandbox

from ..e2e.helpers import (
    competing_items,
    expected_short,
    newly_canceled,
    seller_center_figures,
)
from .conftest import TRIGGERER, Airflow, airflow_components, tail, task_log_tails

RUN = os.environ.get("RUN_BROWSER_TESTS") == "1"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not RUN, reason="browser test: `make test-browser` (RUN_BROWSER_TESTS=1)"),
]
if RUN:  # installed by `make test-browser` only
    from playwright.sync_api import expect

    from .steps import log_in

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "cancel_short_stock_items.py"
DOCS_SCREENSHOT = REPO / "docs" / "approval-page.png"
DAG_ID = "cancel_short_stock_items"
APPROVAL_TASK = "short_stock.approve_cancellations"
CANCEL_TASK = APPROVAL_TASK  # Approve decides again and cancels in the approval task
UNATTENDED_CANCEL_TASK = "short_stock.cancel_short_items"  # runs within the limits (skipped)
SUMMARY_TASK = "short_stock.summarize"
POOL = "seller_center"  # the DAG's Seller Center tasks run in it: it must exist
USER_ID = "approval-test@example.com"
ORDERS, SEED = 60, 1  # about 27 short items, in all three business units
UNITS = ("FACL", "FACO", "FAPE")
MAX_CANCELLATIONS = 1  # the brake trips on any shortage of two items or more

PARSE_TIMEOUT_S = 180  # the dag-processor's first parse of the DAG
REACH_APPROVAL_TIMEOUT_S = 240  # trigger -> the scan -> the plan -> awaiting input
RUN_END_TIMEOUT_S = 240  # an answer -> the cancellations -> the summary
# A 1-minute approval timeout, then the scheduler's sweep (every 15 s) and the summary.
TIMEOUT_RUN_END_S = 60 + 300
TERMINAL = {"success", "failed"}

T = TypeVar("T")


# -- the stack ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop() -> Iterator[Sandbox]:
    """The sandbox the DAG cancels in; its seeded state is restored before each scenario."""
    # "show": the short items are on Seller Center's own stock, below zero (default: clamped)
    with run_sandbox(
        user_id=USER_ID,
        api_key=secrets.token_urlsafe(16),
        orders=ORDERS,
        seed=SEED,
        negative_stock="show",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def stack(airflow: Airflow, shop: Sandbox, artifacts: Path) -> Iterator[Airflow]:
    """The scheduler and the dag-processor beside the session's api-server, the DAG in its
    folder, the pool it needs, the DAG unpaused. The connection reaches the tasks as an
    environment variable of the scheduler (whose executor starts them)."""
    assert airflow.dags is not None
    shutil.copy(DAG_FILE, airflow.dags / "cancel_short_stock_items.py")
    env = {"AIRFLOW_CONN_SELLER_CENTER_DEFAULT": shop.airflow_conn_json()}
    with airflow_components(airflow, artifacts, env, ("scheduler", "dag-processor")):
        answer = airflow.api(
            "POST", "api/v2/pools", json={"name": POOL, "slots": 2, "description": "test"}
        )
        assert answer.status_code in (200, 201), answer.text

        def parsed() -> bool:
            errors = airflow.api("GET", "api/v2/importErrors").json()
            assert not errors.get("import_errors"), f"the DAG does not import: {errors}"
            return airflow.api("GET", f"api/v2/dags/{DAG_ID}").status_code == 200

        wait_for(parsed, PARSE_TIMEOUT_S, f"{DAG_ID} parsed", airflow)
        answer = airflow.api("PATCH", f"api/v2/dags/{DAG_ID}", json={"is_paused": False})
        assert answer.status_code == 200, answer.text
        yield airflow


@pytest.fixture(scope="module")
def seed_state(shop: Sandbox) -> dict[str, Any]:
    return shop.state()


@pytest.fixture
def seeded(shop: Sandbox, seed_state: dict[str, Any]) -> dict[str, Any]:
    """The sandbox back in its seeded state (no item canceled yet); that state."""
    shop.load_state(seed_state)
    shop.clear_requests_log()
    state = shop.state()
    assert shop.cancellation_counts() == {}
    return state


# -- the scenarios -----------------------------------------------------------------------


def test_approve_cancels_exactly_the_planned_items(page, stack, shop, seeded, artifacts):
    planned = expected_short(seeded, USER_ID)
    assert len(planned) > MAX_CANCELLATIONS, "the seed must trip the brake"
    run_id = trigger(stack, "approve")
    wait_for_approval(stack, run_id)

    log_in(page, stack)
    open_required_action(page, run_id)
    check_report(page, seeded, planned)
    write_page_screenshot(page, artifacts)

    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text(re.compile(r"Response received at .* from"))).to_be_visible()

    run = wait_for_run_end(stack, run_id, RUN_END_TIMEOUT_S)
    counts = shop.cancellation_counts()
    assert set(counts) == planned, describe_difference(set(counts), planned)
    assert all(n == 1 for n in counts.values()), {i: n for i, n in counts.items() if n != 1}
    assert newly_canceled(seeded, shop.state()) == planned
    assert run["state"] == "success", run_failure(stack, run_id)
    states = task_states(stack, run_id)
    assert states[APPROVAL_TASK] == ["success"], states
    assert states[CANCEL_TASK] and set(states[CANCEL_TASK]) == {"success"}, states
    summary = run_summary(stack, run_id)
    assert summary["approval"]["decision"] == "approved", summary
    assert summary["canceled"] == len(planned), summary


def test_reject_cancels_nothing(page, stack, shop, seeded):
    planned = expected_short(seeded, USER_ID)
    run_id = trigger(stack, "reject")
    wait_for_approval(stack, run_id)

    log_in(page, stack)
    open_required_action(page, run_id)
    check_report(page, seeded, planned)
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_text(re.compile(r"Response received at .* from"))).to_be_visible()

    run = wait_for_run_end(stack, run_id, RUN_END_TIMEOUT_S)
    assert run["state"] == "failed", run
    assert shop.cancellation_counts() == {}
    assert newly_canceled(seeded, shop.state()) == set()
    assert not cancel_calls(shop)
    assert no_cancel_task_ran(stack, run_id)
    summary = run_summary(stack, run_id)
    assert summary["approval"]["decision"] == "rejected", summary
    assert summary["canceled"] == 0, summary


def test_no_answer_times_out_and_cancels_nothing(page, stack, shop, seeded):
    planned = expected_short(seeded, USER_ID)
    run_id = trigger(stack, "timeout", approval_timeout_minutes=1)
    wait_for_approval(stack, run_id)

    log_in(page, stack)
    open_required_action(page, run_id)
    check_report(page, seeded, planned)
    # Nobody answers: the scheduler's sweep fails the task once the minute has passed.
    run = wait_for_run_end(stack, run_id, TIMEOUT_RUN_END_S)
    assert run["state"] == "failed", run
    assert task_states(stack, run_id)[APPROVAL_TASK] == ["failed"]
    assert shop.cancellation_counts() == {}
    assert newly_canceled(seeded, shop.state()) == set()
    assert not cancel_calls(shop)
    assert no_cancel_task_ran(stack, run_id)
    summary = run_summary(stack, run_id)
    assert summary["approval"]["decision"] == "timed_out", summary
    assert summary["canceled"] == 0, summary

    page.reload()  # the page no longer takes an answer
    expect(page.get_by_role("button", name="Approve")).to_be_disabled()
    expect(page.get_by_role("button", name="Reject")).to_be_disabled()
    expect(page.get_by_text("Response received")).to_have_count(0)


def test_a_triggerer_cannot_escalate_through_the_run_conf(stack, shop, seeded, tmp_path):
    """A user with the simple auth manager's ``user`` role (may trigger) asks, through the
    REST API, for SQL on a database connection: the run fails before any request, and
    neither the database nor the sandbox changes."""
    target = tmp_path / "warehouse.db"
    with closing(sqlite3.connect(target)) as db, db:
        db.execute("CREATE TABLE stock (sku TEXT, units INTEGER)")
    answer = stack.api(
        "POST",
        "api/v2/connections",
        json={"connection_id": "target_db", "conn_type": "sqlite", "host": str(target)},
    )
    assert answer.status_code in (200, 201), answer.text
    shop.clear_requests_log()
    triggerer = stack.as_user(TRIGGERER)
    hostile = {
        "stock_source": "sql",
        "stock_conn_id": "target_db",
        "stock_sql": "CREATE TABLE pwned (a INT)",
        "max_cancellations": 100000,
    }
    run_id = trigger(triggerer, "escalate", **hostile)
    run = wait_for_run_end(stack, run_id, RUN_END_TIMEOUT_S)
    assert run["state"] == "failed", run
    assert shop.requests_log() == [], "refused before any request"
    assert newly_canceled(seeded, shop.state()) == set()
    with closing(sqlite3.connect(target)) as db:
        assert {r[0] for r in db.execute("SELECT name FROM sqlite_master")} == {"stock"}
    states = task_states(stack, run_id)
    assert states["short_stock.list_connections"] == ["failed"], states
    assert states.get("short_stock.find_short_items") in (None, [], ["upstream_failed"]), states


# -- steps -------------------------------------------------------------------------------


def trigger(airflow: Airflow, name: str, **conf: Any) -> str:
    """A manual run through the REST API (as a script or another system would), with a
    conf that trips the brake; its id names the scenario."""
    run_id = f"browser-{name}-{secrets.token_hex(3)}"
    answer = airflow.api(
        "POST",
        f"api/v2/dags/{DAG_ID}/dagRuns",
        json={
            "dag_run_id": run_id,
            "logical_date": None,
            "conf": {"max_cancellations": MAX_CANCELLATIONS, **conf},
        },
    )
    assert answer.status_code == 200, answer.text
    return run_id


def wait_for_approval(airflow: Airflow, run_id: str) -> None:
    def waiting() -> bool:
        states = task_states(airflow, run_id)
        assert not {"failed", "upstream_failed"} & {s for v in states.values() for s in v}, (
            f"{run_id} failed before asking: {states}\n{run_failure(airflow, run_id)}"
        )
        return states.get(APPROVAL_TASK) == ["awaiting_input"]

    wait_for(
        waiting, REACH_APPROVAL_TIMEOUT_S, f"{run_id}: {APPROVAL_TASK} awaiting input", airflow
    )


def open_required_action(page, run_id: str) -> None:
    """From the home page, by the UI's own links: Dags > the DAG > Runs > the run > its
    Required Actions (a review drawer) > the approval task's Required Action page."""
    dag = f"/dags/{DAG_ID}"
    follow(page, link_to(page, "Dags", "/dags"), r"/dags(\?.*)?$")
    follow(page, link_to(page, DAG_ID, dag), rf"{dag}$")
    follow(page, link_to(page, "Runs", f"{dag}/runs"), rf"{dag}/runs(\?.*)?$")
    follow(page, link_to(page, run_id, f"{dag}/runs/{run_id}"), rf"{dag}/runs/{run_id}$")
    follow(page, page.get_by_role("button", name=re.compile("Required Actions")))
    drawer = page.get_by_role("dialog")
    expect(drawer.get_by_text(re.compile(r"Pending required actions \(1\)"))).to_be_visible()
    # The approval is mapped per held connection: its link and page carry the map index.
    follow(
        page,
        drawer.get_by_role("link", name=re.compile(rf"^{re.escape(APPROVAL_TASK)}\b")).first,
        rf"{dag}/runs/{run_id}/tasks/{APPROVAL_TASK}/(mapped/\d+/)?required_actions",
    )
    expect(page.get_by_role("link", name=re.compile(r"Required Action \(1\)"))).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_be_enabled()
    expect(page.get_by_role("button", name="Reject")).to_be_enabled()


def link_to(page, name: str, href: str):
    """The link called ``name`` that leads to ``href``. The name alone is not enough: while
    the next page loads, the previous one stays on screen, and the home page's Asset Events
    card has a link called like the DAG, to the task that emitted the event."""
    return page.get_by_role("link", name=name, exact=True).and_(page.locator(f'[href="{href}"]'))


def follow(page, target, url: str | None = None) -> None:
    """Click a link or button, then wait for where it leads, if given."""
    expect(target).to_have_count(1)
    target.click()
    if url is not None:
        expect(page).to_have_url(re.compile(url))


def check_report(page, state: dict[str, Any], planned: set[int]) -> None:
    """The Markdown report against the oracle (the sandbox's data and the documented rule):
    the short items per business unit, the SKUs with the most short items (pending, stock,
    short), the total, the limit exceeded and by how much, and a sample of planned items."""
    where = pair_of_items(state)
    panel = report_panel(page)
    tables = markdown_tables(panel)
    text = panel.inner_text()

    by_unit = collections.Counter(where[i][0] for i in planned)
    unit_table = find_table(tables, r"^business unit$", first_column=True)
    column = header_index(unit_table, r"short|cancel")
    shown = {row[0].strip().upper(): int(row[column]) for row in unit_table[1:]}
    assert {u: n for u, n in shown.items() if n} == dict(by_unit), (shown, dict(by_unit))

    short_by_pair = collections.Counter(where[i] for i in planned)
    figures = seller_center_figures(state, USER_ID)
    queued = pending_by_pair(state)
    sku_table = find_table(tables, r"^sku$", first_column=True)
    head = sku_table[0]
    col = {name: header_index(sku_table, rf"^{name}$") for name in ("pending", "stock", "short")}
    unit_col = header_index(sku_table, r"business unit")
    rows = sku_table[1:]
    assert rows, f"no SKU rows in the report: {sku_table}"
    for row in rows:
        pair = (row[unit_col].strip().upper(), row[0].strip())
        want = {
            "pending": queued[pair],
            "stock": figures[pair],
            "short": short_by_pair[pair],
        }
        got = {name: int(row[index]) for name, index in col.items()}
        assert got == want, f"{head}: {row} shows {got}, the sandbox says {want}"
    # The SKUs with the most short items: no SKU left out has more than one shown.
    shown_pairs = {(r[unit_col].strip().upper(), r[0].strip()) for r in rows}
    left_out = max((n for p, n in short_by_pair.items() if p not in shown_pairs), default=0)
    assert left_out <= min(int(r[col["short"]]) for r in rows), (left_out, rows)

    assert re.search(rf"\b{len(planned)}\b[^.\n]*short", text), (
        f"the total ({len(planned)} short items) is not in the report:\n{text}"
    )
    over = len(planned) - MAX_CANCELLATIONS
    assert re.search(
        rf"max_cancellations\W{{0,3}}{MAX_CANCELLATIONS}\b[^;\n]*\bby {over}\b", text
    ), (
        f"the report does not say max_cancellations={MAX_CANCELLATIONS} is exceeded by {over}:\n"
        f"{text}"
    )
    assert re.search(r"stock source", text, re.I), text
    sample = re.findall(r"\b(\d{5,}) ?/ ?(\d{5,})\b", text)
    assert sample, f"no sample of order / item ids in the report:\n{text}"
    order_of = {i["order_item_id"]: o["order_id"] for o in state["orders"] for i in o["items"]}
    for order_id, item_id in sample:
        assert int(item_id) in planned, f"sampled item {item_id} is not a planned one"
        assert order_of[int(item_id)] == int(order_id), (order_id, item_id)


def pair_of_items(state: dict[str, Any]) -> dict[int, tuple[str, str]]:
    """order_item_id -> (its order's business unit, its SKU)."""
    return {
        item["order_item_id"]: (str(order.get("operator_code") or "").upper(), item["sku"])
        for order in state["orders"]
        for item in order["items"]
    }


def pending_by_pair(state: dict[str, Any]) -> collections.Counter[tuple[str, str]]:
    """The pending items the shortage rule weighs per (unit, SKU) (``competing_items``)."""
    return collections.Counter(
        (unit, item["sku"]) for unit, _, item in competing_items(state, USER_ID)
    )


def write_page_screenshot(page, artifacts: Path) -> None:
    """docs/approval-page.png: the approval page as the approver sees it, down to a little
    below the Approve button."""
    bottom = page.get_by_role("button", name="Approve").bounding_box()
    assert bottom is not None
    height = max(600, int(bottom["y"] + bottom["height"] + 60))
    png = page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": height})
    (artifacts / "approval-page.png").write_bytes(png)
    DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
    DOCS_SCREENSHOT.write_bytes(png)


# -- reading the page, the API, the sandbox ----------------------------------------------


def markdown_tables(panel) -> list[list[list[str]]]:
    """Every table of the report, as rows of cell texts, header row first."""
    return panel.locator("table").evaluate_all(
        """tables => tables.map(t => [...t.querySelectorAll('tr')].map(
               r => [...r.querySelectorAll('th,td')].map(c => c.innerText.trim())))"""
    )


def find_table(
    tables: list[list[list[str]]], header: str, *, first_column: bool = False
) -> list[list[str]]:
    """The table with a column named like ``header`` (its first column, if asked)."""
    for table in tables:
        cells = table[0][:1] if first_column and table else (table[0] if table else [])
        if any(re.search(header, cell.strip(), re.I) for cell in cells):
            return table
    raise AssertionError(f"no table with a {header!r} column in the report: {tables}")


def header_index(table: list[list[str]], header: str) -> int:
    for index, cell in enumerate(table[0]):
        if re.search(header, cell.strip(), re.I):
            return index
    raise AssertionError(f"no {header!r} column in {table[0]}")


def report_panel(page):
    """The task's Required Action panel: the innermost block holding the report (its tables)
    and the Approve button."""
    return (
        page.locator("div")
        .filter(has=page.get_by_role("button", name="Approve"))
        .filter(has=page.locator("table"))
        .last
    )


def describe_difference(got: set[int], want: set[int]) -> str:
    return f"unexpected: {sorted(got - want)}; missing: {sorted(want - got)}"


def cancel_calls(shop: Sandbox) -> list[dict[str, Any]]:
    return [c for c in shop.requests_log() if "Cancel" in str(c.get("action"))]


def no_cancel_task_ran(airflow: Airflow, run_id: str) -> bool:
    """The unattended cancel task did not run (the approval task itself cancels only on
    Approve; ``cancel_calls`` checks that no cancel reached the sandbox)."""
    states = task_states(airflow, run_id)
    ran = {"success", "failed", "running"}
    assert not ran & set(states.get(UNATTENDED_CANCEL_TASK, [])), states
    return True


def task_states(airflow: Airflow, run_id: str) -> dict[str, list[str | None]]:
    answer = airflow.api("GET", f"api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
    assert answer.status_code == 200, answer.text
    states: dict[str, list[str | None]] = {}
    for ti in sorted(answer.json()["task_instances"], key=lambda t: t["map_index"]):
        states.setdefault(ti["task_id"], []).append(ti["state"])
    return states


def wait_for_run_end(airflow: Airflow, run_id: str, timeout: float) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        run = airflow.api("GET", f"api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()
        return run if run.get("state") in TERMINAL else None

    return wait_for(ended, timeout, f"{run_id} to end", airflow)


def run_summary(airflow: Airflow, run_id: str) -> dict[str, Any]:
    """The summarize task's XCom ``summary``."""
    answer = airflow.api(
        "GET",
        f"api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{SUMMARY_TASK}/xcomEntries/summary",
        params={"deserialize": "true", "stringify": "false"},
    )
    assert answer.status_code == 200, f"{answer.text}\n{run_failure(airflow, run_id)}"
    value = answer.json()["value"]
    assert isinstance(value, dict), value
    return value


def run_failure(airflow: Airflow, run_id: str) -> str:
    """What to read when a run went wrong: its task states and the newest task logs."""
    return f"task states of {run_id}: {task_states(airflow, run_id)}\n{task_log_tails(airflow)}"


def wait_for(check: Callable[[], T], timeout: float, what: str, airflow: Airflow) -> T:
    """Poll ``check`` until it returns something truthy, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            logs = "\n".join(f"{p.name}:\n{tail(p, 2500)}" for p in airflow.logs[1:])
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")
        time.sleep(2)
