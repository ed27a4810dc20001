"""The example DAG on a real CeleryExecutor deployment (``make test-distributed``).

Redis, scheduler, dag-processor, api-server and one Celery worker on this machine, the
pool ``seller_center`` (2 slots), and the sandbox with a rate limit and 10 % faults. The run
is triggered through the REST API; the test checks what was canceled, how often, and that
the pool held the Seller Center tasks to 2 at a time. Skipped unless RUN_DISTRIBUTED_TESTS=1.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import time
from datetime import datetime
from typing import Any

import pytest

from ..e2e.helpers import DAG_ID, expected_short, items_by_id, main_seller_id
from ..secret_guard import find_leaks, hide_secrets, register_secret

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(
        os.environ.get("RUN_DISTRIBUTED_TESTS") != "1",
        reason="a CeleryExecutor deployment: `make test-distributed` (RUN_DISTRIBUTED_TESTS=1)",
    ),
]

USER_ID = "distributed@example.com"
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
BATCH_SIZE = 10  # 43 short items: 5 mapped cancel tasks for 2 pool slots
SELLER_CENTER_TASKS = {"find_short_items", "cancel_short_items"}
RUN_TIMEOUT_S = 300


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals open at one instant (an end before a start at the same time)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]):
    # Asked for (RUN_DISTRIBUTED_TESTS=1) but not runnable: a failure, never a quiet skip.
    if importlib.util.find_spec("airflow.providers.celery") is None:
        pytest.fail(
            "needs the Celery provider: requirements/distributed.txt (make test-distributed)"
        )
    if shutil.which("redis-server") is None:
        pytest.fail("needs redis-server (make test-distributed installs Debian's)")
    from .stack import Stack

    home = tmp_path_factory.mktemp("airflow-celery-home")
    deployment = Stack(
        home,
        worker_concurrency=WORKER_CONCURRENCY,
        pool_slots=POOL_SLOTS,
        sandbox_args=SANDBOX_ARGS,
        user_id=USER_ID,
        api_key=API_KEY,
        # timeout 2 s < the 3 s of a delayed answer: such faults become client retries.
        connection_extra={
            "seller_id": "SBX100",
            "business_unit": "FACL",
            "rate_limit": RATE_LIMIT,
            "timeout": 2,
        },
    )
    try:
        deployment.start()
        yield deployment
    except BaseException:
        print(deployment.tails())
        raise
    finally:
        killed = deployment.stop()
        with capsys.disabled():
            print(f"\nStopped {len(deployment.procs)} processes; killed after 20 s: {killed}")


def test_example_dag_on_celery_executor(stack, capsys):
    try:
        check_run(stack, capsys)
    except BaseException:
        print(stack.tails())
        raise


def check_run(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from .stack import POOL, wait_for

    # The DAG parsed by the dag-processor and visible through the API; then unpaused.
    def parsed() -> bool:
        stack.check_alive()
        return any(d["dag_id"] == DAG_ID for d in stack.api("GET", "/dags")["dags"])

    wait_for(f"{DAG_ID} parsed", parsed, 120, every=1)
    parsed_s = time.monotonic() - stack.started
    pool = stack.api("GET", f"/pools/{POOL}")
    assert pool["slots"] == POOL_SLOTS
    stack.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})

    before = stack.sandbox("state")
    assert main_seller_id(before, USER_ID) == "SBX100"
    predicted = expected_short(before, USER_ID)
    batches = math.ceil(len(predicted) / BATCH_SIZE)
    assert batches > POOL_SLOTS, "the seeded data must need more cancel tasks than pool slots"

    triggered, triggered_at = time.monotonic(), time.time()
    run = stack.api(
        "POST",
        f"/dags/{DAG_ID}/dagRuns",
        json={"logical_date": None, "conf": {"batch_size": BATCH_SIZE}},
    )
    run_id = run["dag_run_id"]

    def finished() -> dict[str, Any] | None:
        stack.check_alive()
        now = stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
        return now if now["state"] in ("success", "failed") else None

    run = wait_for(f"run {run_id} finished", finished, RUN_TIMEOUT_S, every=2)
    run_s = time.monotonic() - triggered
    tis = stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100})[
        "task_instances"
    ]
    states = {(t["task_id"], t["map_index"]): t["state"] for t in tis}
    (stack.logs / "task_instances.json").write_text(json.dumps(tis, indent=1))
    assert run["state"] == "success", f"run {run_id}: {run['state']}; tasks: {states}"

    # Canceled exactly the rule's prediction, nothing else touched, each applied once.
    after = stack.sandbox("state")
    old, new = items_by_id(before), items_by_id(after)
    changed = {i for i in new if new[i] != old[i]}
    canceled = {i for i in new if new[i]["status"] == "canceled" and old[i]["status"] != "canceled"}
    assert canceled == predicted
    assert changed == predicted
    assert {new[i]["reason"] for i in predicted} == {"SHORTAGE"}
    counts = {int(k): v for k, v in stack.sandbox("cancellations").items()}
    assert {i: counts.get(i) for i in predicted} == dict.fromkeys(predicted, 1)
    assert set(counts) == predicted

    summary = stack.api(
        "GET",
        f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/summarize/xcomEntries/summary",
        params={"deserialize": True},
    )["value"]
    summary = summary if isinstance(summary, dict) else json.loads(summary)
    assert summary["short"] == len(predicted)
    assert summary["canceled"] + summary["already_canceled"] == len(predicted)
    assert summary["failed"] == 0

    # Every task ran on the Celery worker; the Seller Center ones in the pool, 2 at most
    # at once (and 2 at once indeed: the pool, not the worker, was the limit).
    assert all(t["state"] == "success" for t in tis), states
    cancel_tis = [t for t in tis if t["task_id"] == "cancel_short_items"]
    assert len(cancel_tis) == batches
    api_tis = [t for t in tis if t["task_id"] in SELLER_CENTER_TASKS]
    assert {t["pool"] for t in api_tis} == {POOL}
    assert all(t["hostname"] for t in tis)
    intervals = [(when(t["start_date"]), when(t["end_date"])) for t in api_tis]
    overlap = max_overlap(intervals)
    assert overlap <= POOL_SLOTS, intervals
    assert overlap == POOL_SLOTS, f"the cancel tasks never ran side by side: {intervals}"
    received = stack.log("celery-worker").count("execute_workload")
    assert received >= len(tis), "the Celery worker must have run every task"

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
    first = min(tis, key=lambda t: when(t["start_date"]))
    first_running = when(first["start_date"]).timestamp() - triggered_at
    first_request = min(entry["time"] for entry in log) - triggered_at
    dispatch = sorted(
        (when(t["start_date"]) - when(t["queued_when"])).total_seconds()
        for t in tis
        if t.get("queued_when")
    )
    counts_only = {k: v for k, v in summary.items() if isinstance(v, int)}
    peak, healthy = stack.peak_memory(), stack.memory["healthy"]
    by_component = {k: round(v) for k, v in stack.memory["healthy_by_component"].items()}
    with capsys.disabled():
        print(
            f"\nDistributed run: {len(predicted)} items canceled by {batches} mapped tasks; "
            f"summary {counts_only}\n"
            f"  start-up: db migrate {stack.timings['db_migrate_s']:.1f} s; then healthy "
            f"(metadata DB, scheduler, dag-processor, celery worker) after "
            f"{stack.timings['healthy_s']:.1f} s, {DAG_ID} listed after {parsed_s:.1f} s\n"
            f"  after the trigger: first task ({first['task_id']}) running {first_running:.1f} s,"
            f" first Seller Center request {first_request:.1f} s, run {run['state']} "
            f"{run_s:.1f} s; queued->running per task: median "
            f"{dispatch[len(dispatch) // 2]:.1f} s, max {dispatch[-1]:.1f} s\n"
            f"  most Seller Center tasks at once: {overlap} (pool {POOL_SLOTS}, worker "
            f"concurrency {WORKER_CONCURRENCY})\n"
            f"  memory (scheduler, dag-processor, api-server, celery worker, redis and their "
            f"children) when healthy: {healthy['processes']:.0f} processes, PSS "
            f"{healthy['pss_mib']:.0f} MiB (RSS sum {healthy['rss_mib']:.0f} MiB); peak in "
            f"the run: {peak.get('processes', 0):.0f} processes, PSS "
            f"{peak.get('pss_mib', 0):.0f} MiB (RSS sum {peak.get('rss_mib', 0):.0f} MiB); "
            f"PSS MiB when healthy by component: {by_component}\n"
            f"  sandbox requests by verdict: {dict(sorted(verdicts.items()))}"
        )
