"""The example DAG on a production-shaped CeleryExecutor deployment (``make test-distributed``).

A PostgreSQL cluster of its own (the metadata DB, Celery's results, and a separate
warehouse DB), Redis, two schedulers, dag-processor, api-server and one Celery worker on
this machine, the pool ``seller_center`` (2 slots), and the sandbox with a rate limit and
10 % faults. The DAG reads the warehouse's stock through an Airflow ``postgres``
connection. The run is triggered through the REST API; the test checks what was canceled,
how often, that both schedulers were alive and every task ran once, and that the pool held
the Seller Center tasks to 2 at a time. Skipped unless RUN_DISTRIBUTED_TESTS=1.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from typing import Any

import pytest

from ..e2e.helpers import DAG_ID
from ..live_processes import max_overlap, when
from ..secret_guard import find_leaks, hide_secrets, register_secret
from .conftest import start_stack
from .runs import (
    SELLER_ID,
    USER_ID,
    Ledger,
    check_summary,
    counts_only,
    predict,
    run_conf,
    seller_of,
    summary_of,
    task_instances,
    trigger,
    wait_parsed,
    wait_run,
    warehouse_rows,
)

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(
        os.environ.get("RUN_DISTRIBUTED_TESTS") != "1",
        reason="a CeleryExecutor deployment: `make test-distributed` (RUN_DISTRIBUTED_TESTS=1)",
    ),
]

API_KEY = register_secret("distributed-api-key-not-a-secret")
POOL_SLOTS = 2
# Twice the pool: the pool, not the worker, is what keeps them to 2 at a time (a worker
# slot stays busy up to [workers] min_heartbeat_interval, 5 s, after its task ended).
WORKER_CONCURRENCY = 4
RATE_LIMIT = 5  # per task (the connection); the sandbox allows 10/s = POOL_SLOTS x 5
SANDBOX_ARGS = [
    "--seed", "5", "--orders", "200", "--rate-limit", "10",
    "--fault-rate", "0.1", "--fault-delay-s", "3",
]  # fmt: skip
BATCH_SIZE = 10
SELLER_CENTER_TASKS = {"short_stock.find_short_items", "short_stock.cancel_short_items"}
RUN_TIMEOUT_S = 300
# A scheduler job is alive while its heartbeat (every 5 s) is younger than Airflow's own
# [scheduler] scheduler_health_check_threshold default.
HEARTBEAT_FRESH_S = 30


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]):
    def report(text: str) -> None:
        with capsys.disabled():
            print(text)

    with start_stack(
        tmp_path_factory.mktemp("airflow-celery-home"),
        report,
        worker_concurrency=WORKER_CONCURRENCY,
        pool_slots=POOL_SLOTS,
        sandbox_args=SANDBOX_ARGS,
        user_id=USER_ID,
        api_key=API_KEY,
        # timeout 2 s < the 3 s of a delayed answer: such faults become client retries.
        connection_extra={
            "seller_id": SELLER_ID,
            "business_unit": "FACL",
            "rate_limit": RATE_LIMIT,
            "timeout": 2,
        },
        schedulers=2,
    ) as deployment:
        yield deployment


def test_example_dag_on_celery_executor(stack, capsys):
    check_run(stack, capsys)


def check_run(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from .stack import POOL, wait_for

    parsed_s = wait_parsed(stack)
    pool = stack.api("GET", f"/pools/{POOL}")
    assert pool["slots"] == POOL_SLOTS

    before = stack.sandbox("state")
    assert seller_of(before) == SELLER_ID
    rows = warehouse_rows(before)
    stack.set_warehouse_stock(rows)
    predicted = predict(before, rows)
    batches = math.ceil(len(predicted) / BATCH_SIZE)
    assert batches > POOL_SLOTS, "the seeded data must need more cancel tasks than pool slots"
    ledger = Ledger(before, predicted)

    triggered, triggered_at = time.monotonic(), time.time()
    run_id = trigger(stack, run_conf(BATCH_SIZE))
    run = wait_run(stack, run_id, RUN_TIMEOUT_S)
    run_s = time.monotonic() - triggered
    tis = task_instances(stack, run_id)
    states = {(t["task_id"], t["map_index"]): t["state"] for t in tis}
    assert run["state"] == "success", f"run {run_id}: {run['state']}; tasks: {states}"

    # Canceled exactly the rule's prediction from the warehouse's figures, nothing else
    # touched, each applied once; the summary says the same.
    counts = ledger.check(stack)
    summary = summary_of(stack, run_id)
    check_summary(summary, predicted, set(counts))
    assert summary["unknown_stock"] >= 1, "the SKU the warehouse lacks is left alone"

    # Both schedulers alive at the end (each its own job in the metadata DB, heartbeating),
    # and every task ran once: one try each, one workload per task on the worker.
    def both_alive() -> list[dict[str, Any]] | None:
        stack.check_alive()  # both scheduler processes still running
        jobs = [
            j
            for j in stack.scheduler_jobs()
            if j["state"] == "running" and j["heartbeat_age_s"] < HEARTBEAT_FRESH_S
        ]
        return jobs if len(jobs) == 2 else None

    jobs = wait_for("both schedulers running and heartbeating", both_alive, 60, every=1)
    queued_by = stack.queued_by(run_id)
    # The approval branch is skipped when the brake does not trip (by the scheduler: no
    # try, or by its own first task: one try); every other task succeeded; none ran twice.
    assert all(t["state"] in ("success", "skipped") for t in tis), states
    assert all(t["state"] == "success" for t in tis if t["task_id"] in SELLER_CENTER_TASKS)
    assert all(t["try_number"] <= 1 for t in tis), {
        (t["task_id"], t["map_index"]): t["try_number"] for t in tis
    }
    ran = [t for t in tis if t["try_number"] == 1]
    messages = re.findall(r"execute_workload\[([0-9a-f-]+)\] received", stack.log("celery-worker"))
    received = len(messages)
    assert received == len(set(messages)) == len(ran), (
        f"the worker received {received} workloads ({len(set(messages))} distinct) for "
        f"{len(ran)} task instances that ran"
    )

    # Every task ran on the Celery worker; the Seller Center ones in the pool, 2 at most
    # at once (and 2 at once indeed: the pool, not the worker, was the limit).
    cancel_tis = [t for t in tis if t["task_id"] == "short_stock.cancel_short_items"]
    # At least one task per batch_size items (batches may also split by business unit).
    assert len(cancel_tis) >= batches
    api_tis = [t for t in tis if t["task_id"] in SELLER_CENTER_TASKS]
    assert {t["pool"] for t in api_tis} == {POOL}
    assert all(t["hostname"] for t in ran)
    intervals = [(when(t["start_date"]), when(t["end_date"])) for t in api_tis]
    overlap = max_overlap(intervals)
    assert overlap <= POOL_SLOTS, intervals
    assert overlap == POOL_SLOTS, f"the cancel tasks never ran side by side: {intervals}"

    # The key reached every process through the environment: no log of any of them, task
    # logs included, holds it or a request Signature.
    leaks = [
        f"{path.relative_to(stack.logs)}: {hide_secrets(line)}"
        for path in sorted(stack.logs.rglob("*.log"))
        for line in find_leaks(path.read_text(errors="replace"), [API_KEY])
    ]
    assert not leaks, "\n".join(leaks[:5])

    log = stack.sandbox("requests")
    (stack.logs / "sandbox-requests.json").write_text(json.dumps(log, indent=1))
    verdicts: dict[str, int] = {}
    for entry in log:
        verdicts[entry["verdict"]] = verdicts.get(entry["verdict"], 0) + 1
    # A task mapped over nothing (no held connection: no approval) never starts.
    first = min((t for t in tis if t["start_date"]), key=lambda t: when(t["start_date"]))
    first_running = when(first["start_date"]).timestamp() - triggered_at
    first_request = min(entry["time"] for entry in log) - triggered_at
    dispatch = sorted(
        (when(t["start_date"]) - when(t["queued_when"])).total_seconds()
        for t in tis
        if t.get("queued_when")
    )
    peak, healthy = stack.peak_memory(), stack.memory["healthy"]
    by_component = {k: round(v) for k, v in stack.memory["healthy_by_component"].items()}
    with capsys.disabled():
        print(
            f"\nDistributed run: {len(predicted)} items canceled by {len(cancel_tis)} mapped "
            "tasks, "
            f"stock from the warehouse DB (PostgreSQL); summary {counts_only(summary)}\n"
            f"  start-up: PostgreSQL cluster + DBs {stack.timings['postgres_s']:.1f} s, "
            f"db migrate {stack.timings['db_migrate_s']:.1f} s; then healthy "
            f"(metadata DB, schedulers, dag-processor, celery worker) after "
            f"{stack.timings['healthy_s']:.1f} s, {DAG_ID} listed after {parsed_s:.1f} s\n"
            f"  schedulers: {len(jobs)} alive, task instances queued by each job: "
            f"{queued_by} (jobs per process: {stack.scheduler_job_ids()}); every task 1 try, "
            f"worker received {received} workloads for {len(ran)} task instances that ran "
            f"({len(tis) - len(ran)} skipped)\n"
            f"  after the trigger: first task ({first['task_id']}) running {first_running:.1f} s,"
            f" first Seller Center request {first_request:.1f} s, run {run['state']} "
            f"{run_s:.1f} s; queued->running per task: median "
            f"{dispatch[len(dispatch) // 2]:.1f} s, max {dispatch[-1]:.1f} s\n"
            f"  most Seller Center tasks at once: {overlap} (pool {POOL_SLOTS}, worker "
            f"concurrency {WORKER_CONCURRENCY})\n"
            f"  memory (schedulers, dag-processor, api-server, celery worker, redis, "
            f"postgres and their children) when healthy: {healthy['processes']:.0f} "
            f"processes, PSS {healthy['pss_mib']:.0f} MiB (RSS sum {healthy['rss_mib']:.0f} "
            f"MiB); peak in the run: {peak.get('processes', 0):.0f} processes, PSS "
            f"{peak.get('pss_mib', 0):.0f} MiB (RSS sum {peak.get('rss_mib', 0):.0f} MiB); "
            f"PSS MiB when healthy by component: {by_component}\n"
            f"  sandbox requests by verdict: {dict(sorted(verdicts.items()))}"
        )
