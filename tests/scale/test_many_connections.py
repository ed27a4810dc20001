"""Many connections on a live Airflow (``make test-scale``): what ``airflow dags test`` cannot
show, because it ignores pools and never schedules an asset's consumers.

One deployment for the module: api-server, scheduler and dag-processor (Airflow 3,
LocalExecutor, more executor slots than pool slots), the pool ``seller_center`` with
``POOL_SLOTS`` slots, and 20 Seller Center sandboxes served from this process, each with
its own seed, user and key: the connections ``sc_01`` .. ``sc_20``, plus ``sc_broken``
(``sc_20``'s sandbox with a wrong key). The tests run in order on that deployment:

1. one run over 20 connections, one broken: each healthy connection's short set canceled
   exactly once, nothing else touched, the broken one fails alone and is named, and the
   pool cap held (every try's start and end from the metadata DB);
2. a second run over the 19 healthy connections, after two products' stock was lowered,
   cancels only the new shortages;
3. run time for 1, 5 and 20 connections, then 20 with 2 and 8 pool slots and with a
   slower API (every sandbox back to its seeded state before each run), with the CPU the
   Airflow processes spent: written to ``scale-figures.json`` and printed, the figures of
   docs/many-sellers.md;
4. the consumer DAG ran once per producing run that canceled items (tests 1 to 3), each
   time with exactly that run's canceled ids (the second run's: only the new ones).
   After each producing run the test waits for the consumer's run, so runs stay apart.

Skipped unless RUN_SCALE_TESTS=1. Every wait is bounded; nothing asserts on a duration.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_seller_provider.sandbox.testing import Sandbox, run_sandbox

from ..e2e.helpers import expected_short, items_by_id
from ..live_processes import max_overlap, when
from ..secret_guard import find_leaks, hide_secrets, register_secret
from .stack import CONSUMER, POOL, PRODUCER, Stack, wait_for

pytestmark = [
    pytest.mark.scale,
    pytest.mark.skipif(
        os.environ.get("RUN_SCALE_TESTS") != "1",
        reason="a live LocalExecutor deployment: `make test-scale` (RUN_SCALE_TESTS=1)",
    ),
]

HEALTHY = [f"sc_{n:02d}" for n in range(1, 21)]
BROKEN = "sc_broken"  # HEALTHY[-1]'s sandbox, a wrong key
SCALE_RUN = [*HEALTHY[:19], BROKEN]  # 20 connections, one broken
LOWERED = ("sc_03", "sc_11")  # the second run's new shortages
SEED_BASE = 100
ORDERS = 40  # 10-25 short items per connection: one cancel batch each
POOL_SLOTS = 4
PARALLELISM = 8  # executor slots: twice the pool, so the pool is what caps the API tasks
# The deployment's settings. Every connection's short items are legitimate here (a third to
# a half of its pending items, above the default max_cancel_fraction): no brake, and no
# approval to wait for. Each run names its connections: a widening this deployment grants
# its triggerers (README, "Security model").
SETTINGS = {
    "require_approval": "never",
    "max_cancel_fraction": 1.0,
    "run_may_change": ["seller_center_conn_ids"],
}
FIND = "short_stock.find_short_items"
CANCEL = "short_stock.cancel_short_items"
API_TASKS = {FIND, CANCEL, "short_stock.approve_cancellations"}
START_TIMEOUT_S = 240
RUN_TIMEOUT_S = 300
CONSUMER_TIMEOUT_S = 120


@dataclass
class Produced:
    """One producing run and what the sandboxes saw it cancel."""

    run_id: str
    conn_ids: list[str]
    state: str
    canceled: dict[str, set[int]]  # conn_id -> ids canceled by this run (count went up)
    wall_s: float  # trigger -> finished, seen from the API
    run_s: float  # the run's own start_date -> end_date
    tis: list[dict[str, Any]] = field(default_factory=list)
    consumer_run: str | None = None  # the consumer's run that followed it, if any
    cpu_s: float = 0.0  # CPU the Airflow processes spent from trigger to finish
    machine_busy: float = 0.0  # the machine's busy fraction meanwhile (every process)


@dataclass
class Deployment:
    stack: Stack
    sandboxes: dict[str, Sandbox]  # healthy conn_id -> its sandbox
    initial: dict[str, dict[str, Any]]  # conn_id -> seeded state
    keys: list[str]
    produced: list[Produced] = field(default_factory=list)
    consumer_runs: list[str] = field(default_factory=list)  # seen, in order
    figures: dict[str, Any] = field(default_factory=dict)
    stuck: str = ""  # set when a run did not finish: the later tests fail at once
    consumer_wait_s: float = CONSUMER_TIMEOUT_S  # cut short once a consumer run never came


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("airflow-scale-home")
    keys: list[str] = []
    with contextlib.ExitStack() as running:
        sandboxes: dict[str, Sandbox] = {}
        for n, conn_id in enumerate(HEALTHY, start=1):
            key = register_secret(f"scale-{conn_id}-{secrets.token_urlsafe(12)}")
            keys.append(key)
            sandboxes[conn_id] = running.enter_context(
                run_sandbox(
                    user_id=f"{conn_id}@example.com",
                    api_key=key,
                    seed=SEED_BASE + n,
                    orders=ORDERS,
                    negative_stock="show",  # shortages on Seller Center's own stock
                )
            )
        connections = {cid: sb.airflow_conn_json() for cid, sb in sandboxes.items()}
        broken = json.loads(connections[HEALTHY[-1]])
        broken["password"] = register_secret(f"scale-wrong-{secrets.token_urlsafe(12)}")
        keys.append(broken["password"])
        connections[BROKEN] = json.dumps(broken)
        initial = {cid: sb.state() for cid, sb in sandboxes.items()}

        stack = Stack(
            home,
            pool_slots=POOL_SLOTS,
            parallelism=PARALLELISM,
            connections=connections,
            short_stock_settings=SETTINGS,
        )
        print(f"\nscale test Airflow home: {home}")
        try:
            stack.start()
            wait_for("both DAGs parsed", lambda: parsed(stack), START_TIMEOUT_S, every=1)
            for dag_id in (PRODUCER, CONSUMER):
                stack.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
            yield Deployment(stack, sandboxes, initial, keys)
        except BaseException:
            print(stack.tails())
            raise
        finally:
            killed = stack.stop()
            print(f"\nStopped {len(stack.procs)} processes by pid; killed after 20 s: {killed}")


def parsed(stack: Stack) -> bool:
    stack.check_alive()
    listed = {d["dag_id"] for d in stack.api("GET", "/dags", params={"limit": 100})["dags"]}
    return {PRODUCER, CONSUMER} <= listed


@contextlib.contextmanager
def reporting(stack: Stack) -> Iterator[None]:
    """On failure: the components' log tails."""
    try:
        yield
    except BaseException:
        print(stack.tails())
        raise


# -- helpers ---------------------------------------------------------------------------
def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def trigger(dep: Deployment, conn_ids: list[str], conf: dict[str, Any] | None = None) -> Produced:
    """Trigger the producer for ``conn_ids``, wait for its end, and see what it canceled."""
    stack = dep.stack
    if dep.stuck:
        pytest.fail(f"an earlier run did not finish, the deployment is not usable: {dep.stuck}")
    before = {cid: sb.cancellation_counts() for cid, sb in dep.sandboxes.items()}
    busy0, total0 = cpu_ticks()
    cpu0 = stack.cpu_seconds()
    started = time.monotonic()
    run = stack.api(
        "POST",
        f"/dags/{PRODUCER}/dagRuns",
        json={
            "logical_date": None,
            "conf": {"seller_center_conn_ids": conn_ids, **(conf or {})},
        },
    )
    run_id = run["dag_run_id"]

    def finished() -> dict[str, Any] | None:
        stack.check_alive()
        now = stack.api("GET", f"/dags/{PRODUCER}/dagRuns/{run_id}")
        return now if now["state"] in ("success", "failed") else None

    try:
        run = wait_for(f"run {run_id} finished", finished, RUN_TIMEOUT_S, every=1)
    except (TimeoutError, RuntimeError) as exc:
        dep.stuck = f"{run_id}: {exc}"
        raise
    wall_s = time.monotonic() - started
    cpu_s = stack.cpu_seconds() - cpu0
    busy1, total1 = cpu_ticks()
    canceled = {}
    for cid, sandbox in dep.sandboxes.items():
        after = sandbox.cancellation_counts()
        canceled[cid] = {i for i, n in after.items() if n > before[cid].get(i, 0)}
    tis = stack.api(
        "GET", f"/dags/{PRODUCER}/dagRuns/{run_id}/taskInstances", params={"limit": 500}
    )["task_instances"]
    (stack.logs / f"tis-{run_id.replace(':', '_')}.json").write_text(json.dumps(tis, indent=1))
    produced = Produced(
        run_id=run_id,
        conn_ids=conn_ids,
        state=run["state"],
        canceled={cid: ids for cid, ids in canceled.items() if ids},
        wall_s=wall_s,
        run_s=(when(run["end_date"]) - when(run["start_date"])).total_seconds(),
        tis=tis,
        cpu_s=cpu_s,
        machine_busy=(busy1 - busy0) / max(1, total1 - total0),
    )
    dep.produced.append(produced)
    if produced.canceled:
        produced.consumer_run = await_consumer(dep)
    return produced


def await_consumer(dep: Deployment) -> str | None:
    """The consumer's next run, once finished; None if none came (test 4 says so). Waiting
    keeps one consumer run per producing run apart from the next producing run."""
    stack = dep.stack

    def new_run_done() -> dict[str, Any] | None:
        stack.check_alive()
        new = [r for r in consumer_runs(stack) if r["dag_run_id"] not in dep.consumer_runs]
        return new[0] if new and new[0]["state"] in ("success", "failed") else None

    try:
        run = wait_for("the consumer's next run", new_run_done, dep.consumer_wait_s)
    except TimeoutError:
        dep.consumer_wait_s = 10  # no consumer run at all: test 4 says so, later runs wait less
        return None
    dep.consumer_runs.append(run["dag_run_id"])
    return run["dag_run_id"]


def xcom(stack: Stack, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    return stack.api(
        "GET",
        f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
        params={"deserialize": True},
    )["value"]


def consumer_runs(stack: Stack) -> list[dict[str, Any]]:
    runs = stack.api(
        "GET", f"/dags/{CONSUMER}/dagRuns", params={"limit": 100, "order_by": "run_after"}
    )["dag_runs"]
    return sorted(runs, key=lambda r: (r["run_after"], r["dag_run_id"]))


def check_consumer(dep: Deployment, produced: Produced) -> dict[str, list[int]]:
    """The consumer ran once for ``produced``, triggered by its events only, and received
    exactly the ids it canceled; returns what the consumer returned."""
    stack = dep.stack
    run_id = produced.consumer_run
    assert run_id, f"no consumer run followed {produced.run_id} within {CONSUMER_TIMEOUT_S} s"
    run = stack.api("GET", f"/dags/{CONSUMER}/dagRuns/{run_id}")
    assert run["state"] == "success", run
    assert run["run_type"] == "asset_triggered", run
    events = stack.api("GET", f"/dags/{CONSUMER}/dagRuns/{run_id}/upstreamAssetEvents")[
        "asset_events"
    ]
    got = xcom(stack, CONSUMER, run_id, "read_cancellations", "return_value")
    # One event per producing run, listing its connections (cancellation_events: one per
    # connection would reach the consumer split over runs, apache/airflow#54659).
    sources = sorted(
        (e["source_run_id"], entry["seller_center_conn_id"])
        for e in events
        for entry in e["extra"]["events"]
    )
    expected = {cid: sorted(ids) for cid, ids in produced.canceled.items()}
    assert len(events) == 1, f"{len(events)} triggering events, expected one per producing run"
    assert got == expected and sources == [(produced.run_id, c) for c in sorted(expected)], (
        f"consumer run {run_id} after producing run {produced.run_id}: received "
        f"{ {c: len(i) for c, i in got.items()} } (ids per connection), expected "
        f"{ {c: len(i) for c, i in expected.items()} }; its triggering events (source run, "
        f"connection): {sources}"
    )
    return got


def pool_tries(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    """Every try that ran of the API tasks (not ``approve_cancellations`` skipped unrun)."""
    return [
        t
        for t in stack.task_tries(PRODUCER, run_id)
        if t["task_id"] in API_TASKS and t["try_number"] > 0 and t["state"] != "skipped"
    ]


def task_log(stack: Stack, run_id: str, task_id: str) -> str:
    folder = stack.home / "logs" / f"dag_id={PRODUCER}" / f"run_id={run_id}" / f"task_id={task_id}"
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*.log")))


def by_conn(tis: list[dict[str, Any]], task_id: str) -> dict[str, dict[str, Any]]:
    """A mapped-per-connection task's instances by connection (the rendered map index)."""
    return {t["rendered_map_index"]: t for t in tis if t["task_id"] == task_id}


def seconds(tis: list[dict[str, Any]], task_id: str) -> list[float]:
    return sorted(
        (when(t["end_date"]) - when(t["start_date"])).total_seconds()
        for t in tis
        if t["task_id"] == task_id and t["start_date"] and t["end_date"]
    )


# -- 1. twenty connections, one broken ---------------------------------------------------
def test_twenty_connections_one_broken(deployment: Deployment, capsys) -> None:
    dep, stack = deployment, deployment.stack
    with reporting(stack):
        assert stack.api("GET", f"/pools/{POOL}")["slots"] == POOL_SLOTS
        predicted = {cid: expected_short(dep.initial[cid], f"{cid}@example.com") for cid in HEALTHY}
        assert all(predicted.values()), "every seeded connection must have short items"

        run = trigger(dep, SCALE_RUN)
        states = {(t["task_id"], t["rendered_map_index"]): t["state"] for t in run.tis}
        assert run.state == "failed", f"the broken connection must fail the run: {states}"

        # Each healthy connection's short set canceled exactly once; nothing else touched,
        # the broken connection's sandbox (sc_20's) included.
        for cid in HEALTHY[:19]:
            sandbox = dep.sandboxes[cid]
            assert sandbox.cancellation_counts() == dict.fromkeys(predicted[cid], 1), cid
            old, new = items_by_id(dep.initial[cid]), items_by_id(sandbox.state())
            assert {i for i in new if new[i] != old[i]} == predicted[cid], cid
            assert {new[i]["reason"] for i in predicted[cid]} == {"SHORTAGE"}, cid
        untouched = dep.sandboxes[HEALTHY[-1]]
        assert untouched.cancellation_counts() == {}
        assert untouched.state()["orders"] == dep.initial[HEALTHY[-1]]["orders"]
        assert set(run.canceled) == set(HEALTHY[:19])

        # The broken one failed alone: its find task failed, every other one succeeded,
        # every cancel task succeeded (one batch per healthy connection).
        finds = by_conn(run.tis, FIND)
        assert set(finds) == set(SCALE_RUN)
        assert finds[BROKEN]["state"] == "failed", finds[BROKEN]
        assert {cid for cid, t in finds.items() if t["state"] != "success"} == {BROKEN}
        cancels = [t for t in run.tis if t["task_id"] == CANCEL]
        assert len(cancels) == 19 and {t["state"] for t in cancels} == {"success"}, cancels
        assert states[("short_stock.plan_cancellations", None)] == "success"
        assert states[("short_stock.publish_cancellations", None)] == "success"
        assert states[("short_stock.summarize", None)] == "failed"

        # The run failed at the end with a message naming it, and only it.
        summary = xcom(stack, PRODUCER, run.run_id, "short_stock.summarize", "summary")
        conns = summary["connections"]
        assert conns[BROKEN]["status"] == "find_failed", conns[BROKEN]
        assert BROKEN in (conns[BROKEN]["problem"] or ""), conns[BROKEN]
        for cid in HEALTHY[:19]:
            assert conns[cid]["status"] == "planned" and conns[cid]["problem"] is None, cid
            assert conns[cid]["short"] == conns[cid]["canceled"] == len(predicted[cid]), cid
        log = task_log(stack, run.run_id, "short_stock.summarize")
        message = f"1 of {len(SCALE_RUN)} connection(s) did not complete: connection {BROKEN!r}"
        assert message in log, log[-3000:]

        # The pool cap held: at no instant more than POOL_SLOTS tries of the API tasks ran,
        # every try counted (the broken find's retries too, from task_instance_history).
        tries = pool_tries(stack, run.run_id)
        assert {t["pool"] for t in tries} == {POOL}
        finds_tries = [t for t in tries if t["task_id"] == FIND]
        assert len([t for t in finds_tries if t["state"] == "success"]) == 19
        intervals = [(when(t["start_date"]), when(t["end_date"])) for t in tries]
        assert all(s and e for s, e in intervals), tries
        overlap = max_overlap(intervals)
        (stack.logs / "pool-tries.json").write_text(json.dumps(tries, indent=1, default=str))
        assert overlap <= POOL_SLOTS, f"{overlap} API tasks at once, pool {POOL_SLOTS}"
        assert overlap > 1, "the API tasks never ran side by side: the test shows nothing"
        dep.figures["scale_run"] = {
            "connections": len(SCALE_RUN),
            "run_s": round(run.run_s, 1),
            "wall_s": round(run.wall_s, 1),
            "api_task_tries": len(tries),
            "max_api_tasks_at_once": overlap,
            "broken_find_tries": len([t for t in finds_tries if t["state"] != "success"]),
            "airflow_cpu_s": round(run.cpu_s, 1),
            "machine_cpu_busy": round(run.machine_busy, 2),
        }
        with capsys.disabled():
            print(
                f"\nScale run {run.run_id}: {len(SCALE_RUN)} connections ({BROKEN} broken), "
                f"{sum(map(len, run.canceled.values()))} items canceled, run {run.state} "
                f"after {run.run_s:.1f} s; {len(tries)} API task tries, at most {overlap} at "
                f"once (pool {POOL_SLOTS}, executor {PARALLELISM})"
            )


# -- 2. the consumer --------------------------------------------------------------------
def lower_stock(sandbox: Sandbox, user_id: str) -> set[int]:
    """Lower one product's declared quantity in one unit until 1 to 3 of its pending items
    become short (checked with the oracle); returns those items."""
    state = sandbox.state()
    seller = sandbox.seller_id
    for product in state["products"]:
        if product["seller_id"] != seller:
            continue
        for unit, stock in sorted(product["stock"].items()):
            if stock < 0:
                continue  # already short: canceled by the first run
            changed = json.loads(json.dumps(state))
            for p in changed["products"]:
                if p["seller_id"] == seller and p["seller_sku"] == product["seller_sku"]:
                    p["quantity"][unit] -= stock + 2
                    p.pop("stock", None)
            sandbox.load_state(changed)
            new = expected_short(sandbox.state(), user_id)
            if 1 <= len(new) <= 3:
                return new
            sandbox.load_state(state)
    raise AssertionError("no product whose lowered stock makes 1 to 3 items short")


def test_second_run_cancels_only_new_shortages(deployment: Deployment) -> None:
    dep, stack = deployment, deployment.stack
    assert dep.produced, "needs the scale run (test 1)"
    with reporting(stack):
        # A second run over the 19 healthy connections: only the new shortages.
        new = {cid: lower_stock(dep.sandboxes[cid], f"{cid}@example.com") for cid in LOWERED}
        counts_before = {cid: sb.cancellation_counts() for cid, sb in dep.sandboxes.items()}
        second = trigger(dep, HEALTHY[:19])
        assert second.state == "success", second.tis
        assert second.canceled == new
        for cid, sandbox in dep.sandboxes.items():
            expected = {**counts_before[cid], **dict.fromkeys(new.get(cid, ()), 1)}
            assert sandbox.cancellation_counts() == expected, cid


# -- 3. run time by connections -----------------------------------------------------------
# (connections, pool slots, added API latency in ms): 1, 5 and 20 connections at the test's
# pool; then 20 with half and twice the slots; then 20 with a slower API.
SCENARIOS = [
    (1, POOL_SLOTS, 0),
    (5, POOL_SLOTS, 0),
    (20, POOL_SLOTS, 0),
    (20, 2, 0),
    (20, 8, 0),
    (20, POOL_SLOTS, 300),
]


def set_pool(stack: Stack, slots: int) -> None:
    body = {"pool": POOL, "slots": slots, "include_deferred": False}
    assert stack.api("PATCH", f"/pools/{POOL}", json=body)["slots"] == slots


def test_run_time_by_connections(deployment: Deployment, capsys) -> None:
    dep, stack = deployment, deployment.stack
    with reporting(stack):
        rows = []
        for n, slots, latency_ms in SCENARIOS:
            set_pool(stack, slots)
            for cid, sandbox in dep.sandboxes.items():
                sandbox.load_state(dep.initial[cid])  # the seeded shortages again
                sandbox.clear_requests_log()
                sandbox.set_faults(latency_ms=latency_ms)
            conn_ids = HEALTHY[:n]
            run = trigger(dep, conn_ids)
            assert run.state == "success", run.tis
            for cid in conn_ids:
                predicted = expected_short(dep.initial[cid], f"{cid}@example.com")
                assert dep.sandboxes[cid].cancellation_counts() == dict.fromkeys(predicted, 1)
            assert set(run.canceled) == set(conn_ids)
            tries = pool_tries(stack, run.run_id)
            overlap = max_overlap([(when(t["start_date"]), when(t["end_date"])) for t in tries])
            assert overlap <= slots, f"{overlap} API tasks at once, pool {slots}"
            find_s, cancel_s = seconds(run.tis, FIND), seconds(run.tis, CANCEL)
            requests = sum(len(dep.sandboxes[c].requests_log()) for c in conn_ids)
            rows.append(
                {
                    "connections": n,
                    "pool_slots": slots,
                    "api_latency_ms": latency_ms,
                    "run_s": round(run.run_s, 1),
                    "task_instances": len(run.tis),
                    "items_canceled": sum(map(len, run.canceled.values())),
                    "api_requests": requests,
                    "find_task_s_median": round(statistics.median(find_s), 1),
                    "find_task_s_max": round(find_s[-1], 1),
                    "cancel_task_s_median": round(statistics.median(cancel_s), 1),
                    "max_api_tasks_at_once": overlap,
                    "airflow_cpu_s": round(run.cpu_s, 1),
                    "machine_cpu_busy": round(run.machine_busy, 2),
                }
            )
        for sandbox in dep.sandboxes.values():
            sandbox.set_faults(latency_ms=0)
        set_pool(stack, POOL_SLOTS)
        dep.figures["by_connections"] = rows
        dep.figures["setup"] = {
            "pool_slots": POOL_SLOTS,
            "parallelism": PARALLELISM,
            "executor": "LocalExecutor",
            "metadata_db": "SQLite",
            "cpus": os.cpu_count(),
            "orders_per_connection": ORDERS,
            "start_up_s": {k: round(v, 1) for k, v in stack.timings.items()},
            "peak_memory": {k: round(v) for k, v in stack.peak_memory().items()},
        }
        out = stack.home / "scale-figures.json"
        out.write_text(json.dumps(dep.figures, indent=1))
        # The keys reached every process through the environment: no log holds one.
        leaks = [
            f"{path.relative_to(stack.home)}: {hide_secrets(line)}"
            for path in sorted(stack.logs.rglob("*.log"))
            for line in find_leaks(path.read_text(errors="replace"), dep.keys)
        ]
        assert not leaks, "\n".join(leaks[:5])
        with capsys.disabled():
            print(f"\nRun time by connections ({os.cpu_count()} CPUs): {out}")
            for row in rows:
                print("  " + json.dumps(row))
            print("  scale run: " + json.dumps(dep.figures.get("scale_run", {})))
            print("  " + json.dumps(dep.figures["setup"]))


# -- 4. the consumer ----------------------------------------------------------------------
def test_consumer_runs_once_per_producing_run_with_exactly_its_ids(
    deployment: Deployment, capsys
) -> None:
    dep, stack = deployment, deployment.stack
    producing = [p for p in dep.produced if p.canceled]
    assert len(producing) >= 2, "needs the producing runs of tests 1 to 3"
    with reporting(stack):
        # One consumer run per producing run that canceled, and no other.
        assert [p.consumer_run for p in producing] == [
            r["dag_run_id"] for r in consumer_runs(stack)
        ]
        received = [check_consumer(dep, p) for p in producing]
        # The second run's consumer got only the new ids.
        assert received[1] == {cid: sorted(ids) for cid, ids in dep.produced[1].canceled.items()}
        assert sorted(received[1]) == sorted(LOWERED)
        with capsys.disabled():
            print(f"\nConsumer: {len(producing)} runs, each with exactly its run's ids")
