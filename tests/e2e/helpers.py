"""Helpers for the end-to-end tests: predict from sandbox state, run the DAG in a subprocess."""

from __future__ import annotations

import atexit
import copy
import itertools
import json
import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..conftest import AIRFLOW_BIN
from .dag_runner import PER_RUN

DAG_ID = "cancel_short_stock_items"
DEPLOYMENT_SETTINGS = "AIRFLOW__SELLER_CENTER__SHORT_STOCK_SETTINGS"
"""The deployment's short-stock settings (author settings no run may change)."""


def main_seller_id(state: dict[str, Any], user_id: str) -> str:
    (user,) = [u for u in state["users"] if u["user_id"] == user_id]
    return user["seller_id"]


def items_by_id(state: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {item["order_item_id"]: item for order in state["orders"] for item in order["items"]}


def newly_canceled(before: dict, after: dict) -> set[int]:
    old, new = items_by_id(before), items_by_id(after)
    return {
        item_id
        for item_id, item in new.items()
        if item["status"] == "canceled" and old[item_id]["status"] != "canceled"
    }


SELLER_SHIPS = ("dropshipping", "cross docking")
UNITS = ("FACL", "FACO", "FAPE")


def seller_center_figures(state: dict[str, Any], user_id: str) -> dict[tuple[str, str], int]:
    """What GetProducts reports per (unit, SKU): the sandbox's derived ``stock`` of the units
    each product has."""
    seller = main_seller_id(state, user_id)
    return {
        (unit, p["seller_sku"]): int(p["stock"][unit])
        for p in state["products"]
        if p["seller_id"] == seller
        for unit in p["quantity"]
    }


def declared_less_reserved(state: dict[str, Any], user_id: str) -> dict[tuple[str, str], int]:
    """Per (unit, SKU) of the user's seller: the declared quantity less the units its
    pending, seller-shipped items of that unit hold, worked out here from the state (not the
    sandbox's derived ``stock``): what a sandbox run with ``negative_stock="show"`` reports,
    below zero where the SKU is oversold, whatever the sandbox's own mode."""
    seller = main_seller_id(state, user_id)
    held: dict[tuple[str, str], int] = {}
    for order in state["orders"]:
        if order["seller_id"] != seller:
            continue
        for item in order["items"]:
            if item["status"] == "pending" and item["shipping_type"].lower() != "fulfillment":
                key = (str(order["operator_code"]).upper(), item["sku"])
                held[key] = held.get(key, 0) + 1
    return {
        (unit, p["seller_sku"]): int(quantity) - held.get((unit, p["seller_sku"]), 0)
        for p in state["products"]
        if p["seller_id"] == seller
        for unit, quantity in p["quantity"].items()
    }


def competing_items(
    state: dict[str, Any], user_id: str
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(unit, order, item) for each item the rule weighs: pending, shipped by the seller
    (not Fulfillment), in an order of the user's seller with a known business unit."""
    seller = main_seller_id(state, user_id)
    for order in state["orders"]:
        unit = str(order.get("operator_code") or "").upper()
        if order["seller_id"] != seller or unit not in UNITS:
            continue
        if str(order.get("shipping_type", "")).lower() == "own warehouse":
            continue
        for item in order["items"]:
            if item["status"] == "pending" and item["shipping_type"].lower() in SELLER_SHIPS:
                yield unit, order, item


def expected_short(
    state: dict[str, Any],
    user_id: str,
    figures: dict[tuple[str | None, str], int] | None = None,
    *,
    counts: str = "sellable",
    scope: str = "item",
) -> set[int]:
    """The items the DAG must cancel, worked out here from the API's own data and the
    documented rule (not from the project's code): pending items the seller ships, per
    (order's unit, SKU), oldest first; ``sellable`` figures: the newest ``-stock`` items
    are short; ``on_hand``: items beyond the figure are short. Package scope: packages
    whole, oldest first, a short package leaves its units."""
    if figures is None:
        figures = seller_center_figures(state, user_id)
    queues: dict[tuple[str, str], list[tuple[str, int, int, str]]] = {}
    for unit, order, it in competing_items(state, user_id):
        package = it["package_id"] or f"item-{it['order_item_id']}"
        queues.setdefault((unit, it["sku"]), []).append(
            (order["created_at"], order["order_id"], it["order_item_id"], package)
        )
    supply: dict[tuple[str, str], int] = {}
    for key, queue in queues.items():
        figure = figures.get(key, figures.get((None, key[1])))
        if figure is not None:
            supply[key] = max(0, figure + len(queue) if counts == "sellable" else figure)
    short: set[int] = set()
    if scope == "item":
        for key, queue in queues.items():
            if key in supply:
                short |= {entry[2] for entry in sorted(queue)[supply[key] :]}
        return short
    packages: dict[tuple[int, str], list[tuple[tuple[str, str], tuple]]] = {}
    for key, queue in queues.items():
        for entry in queue:
            packages.setdefault((entry[1], entry[3]), []).append((key, entry))
    for _, members in sorted(packages.items(), key=lambda kv: min(e for _, e in kv[1])):
        keys = [key for key, _ in members]
        if any(key not in supply for key in keys):
            continue
        need = {key: keys.count(key) for key in keys}
        if all(supply[key] >= n for key, n in need.items()):
            for key, n in need.items():
                supply[key] -= n
        else:
            short |= {entry[2] for _, entry in members}
    return short


def drop_declared_stock(sandbox: Any) -> dict[str, Any]:
    """Every product's declared quantity in every unit drops to 0 (a broken stock feed: the
    brake's case); returns the state loaded."""
    broken = copy.deepcopy(sandbox.state())
    for product in broken["products"]:
        product["quantity"] = dict.fromkeys(product["quantity"], 0)
    sandbox.load_state(broken)
    return broken


TEST_DAGS = Path(__file__).resolve().parent / "dags"
REPO = Path(__file__).resolve().parents[2]
_RUNS = itertools.count()


def _without_connections(env: Mapping[str, str]) -> dict[str, str]:
    """The environment but what each run brings (connections, short-stock deployment
    settings) and pytest's own PYTEST_CURRENT_TEST."""
    return {
        k: v for k, v in env.items() if not k.startswith(PER_RUN) and k != "PYTEST_CURRENT_TEST"
    }


# The worker's environment as conftest set it up, before any test changed it: runs in it
# (whatever their connections) may go to the warm runner (tests/e2e/dag_runner.py).
_BASE_ENV = _without_connections(os.environ)
COLD_RUNS = "ASP_COLD_DAG_RUNS"


class WarmRunner:
    """This worker's ``tests.e2e.dag_runner`` process: ``airflow dags test`` without paying
    Airflow's start-up on every run."""

    def __init__(self) -> None:
        home = Path(_BASE_ENV["AIRFLOW_HOME"])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.dag_runner", str(home / "dag-runner.log")],
            cwd=REPO,
            env=_BASE_ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._reply(120, "start")

    def _reply(self, timeout: float, what: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            exited = self.proc.poll()
            self.close()
            why = "no answer" if exited is None else f"it exited with {exited} (dag-runner.log)"
            raise TimeoutError(f"the warm dags-test runner, asked {what}: {why}")
        return json.loads(line)

    def run(self, argv: list[str], connections: dict[str, str], log: Path, timeout: float) -> int:
        assert self.proc.stdin is not None
        request = {"argv": argv, "connections": connections, "log": str(log)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return int(self._reply(timeout, f"{argv} within {timeout:g} s")["code"])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


_warm: WarmRunner | None = None


def _warm_runner() -> WarmRunner:
    global _warm
    if _warm is None or not _warm.alive():
        _warm = WarmRunner()
        atexit.register(_warm.close)
    return _warm


def run_dag(
    conn_json: str,
    conf: dict[str, Any] | None = None,
    *,
    dag_id: str = DAG_ID,
    dags_folder: Path | None = None,
    timeout: float = 600,
    connections: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """``airflow dags test`` with a fresh DAG object every run; ``connections``: more connections,
    id -> JSON; ``settings``: the deployment's short-stock settings (the author's, which a
    run's conf cannot change: ``[seller_center] short_stock_settings``). In the worker's own
    environment (connections aside) it runs in the warm runner; otherwise (another DAGs
    folder, a test's settings, or ``ASP_COLD_DAG_RUNS=1``) in a fresh ``airflow`` process.
    """
    env = {**os.environ, "AIRFLOW_CONN_SELLER_CENTER_DEFAULT": conn_json}
    if settings is not None:
        env[DEPLOYMENT_SETTINGS] = json.dumps(settings)
    for conn_id, value in (connections or {}).items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
    if dags_folder is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    argv = ["dags", "test", dag_id]
    if conf:
        argv += ["-c", json.dumps(conf)]
    # Written as it runs, so that a run that hangs still leaves its log behind.
    out = (
        Path(os.environ.get("AIRFLOW_HOME", "/tmp")) / f"dags-test-{os.getpid()}-{next(_RUNS)}.log"
    )
    warm = not os.environ.get(COLD_RUNS) and _without_connections(env) == _BASE_ENV
    if warm:
        conns = {k: v for k, v in env.items() if k.startswith(PER_RUN)}
        try:
            code = _warm_runner().run(argv, conns, out, timeout)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; its log: {out}\n" + out.read_text()[-4000:]) from None
        return code, out.read_text()
    with out.open("w+") as sink:
        proc = subprocess.Popen(
            [AIRFLOW_BIN, *argv], env=env, stdout=sink, stderr=subprocess.STDOUT, text=True
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            sink.seek(0)
            raise AssertionError(
                f"airflow dags test ran past {timeout:g} s; its log: {out}\n" + sink.read()[-4000:]
            ) from None
        sink.seek(0)
        return code, sink.read()


def run_dag_answering(
    conn_json: str,
    conf: dict[str, Any] | None,
    answer: str,
    *,
    timeout: float = 600,
    settings: dict[str, Any] | None = None,
    connections: dict[str, str] | None = None,
) -> tuple[int, str, dict[str, Any]]:
    """``run_dag`` while ``hitl_answer`` answers its approval request: ``Approve``,
    ``Reject`` or ``--timeout``. Returns the DAG's exit code and log, and the request the
    answerer saw (subject, Markdown body) with what it did."""
    answerer = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.hitl_answer", answer, "--wait", str(timeout)],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        code, log = run_dag(
            conn_json, conf, timeout=timeout, settings=settings, connections=connections
        )
        out, err = answerer.communicate(timeout=60)
    finally:
        if answerer.poll() is None:
            answerer.kill()
            answerer.wait(timeout=10)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"the answerer printed nothing:\n{err[-3000:]}"
    return code, log, json.loads(lines[-1])


def summary_from_log(log: str) -> dict[str, int]:
    """The counts the summarize task logged (its last ``Summary:`` line)."""
    lines = re.findall(r"Summary: (pending=\d+(?: \w+=\d+)*)", log)
    assert lines, f"no summary in the log:\n{log[-4000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


def save_log(log: str, name: str) -> Path:
    path = Path(os.environ["AIRFLOW_HOME"]) / f"{name}.log"
    path.write_text(log)
    return path
