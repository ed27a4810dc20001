"""Crashes mid-run on the production-shaped deployment (``make test-faults``).

One stack (PostgreSQL, Redis, two schedulers, dag-processor, api-server, one Celery worker;
the sandbox with its state in a file) for four scenarios, each on a fresh sandbox state:

1. the Celery worker SIGKILLed (its process group) in the middle of a mapped batch, a new
   worker started: Airflow notices the dead task through its missing heartbeat and retries;
2. the API down for a minute: the sandbox stopped (it saves its state) and started again on
   the same port from its state file 60 s later;
3. the broker restarted: Redis stopped (nothing persisted: its queue is lost) and started
   again;
4. one of the two schedulers SIGKILLed: the other carries on.

Each one ends with every short item canceled exactly once (the sandbox's own count), nothing
else touched, and the summary of the run that completed equal to the sandbox's state; a
run that failed is re-run once where the scenario allows it. Each prints what it measured:
time from the fault to the first cancellation after it and to the run's end, retries,
cancellations per item. The timeouts that let Airflow notice a dead worker or scheduler
within seconds are lowered for the test (FAST_RECOVERY). Skipped unless
RUN_DISTRIBUTED_TESTS=1.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ..e2e.helpers import DAG_ID
from ..secret_guard import find_leaks, hide_secrets, register_secret
from .conftest import start_stack
from .runs import (
    SELLER_ID,
    USER_ID,
    Ledger,
    cancellations,
    check_books,
    check_summary,
    counts_only,
    per_item,
    predict,
    retries_taken,
    run_conf,
    run_state,
    summary_ids,
    summary_of,
    task_instances,
    trigger,
    wait_parsed,
    wait_run,
    warehouse_rows,
)
from .stack import Stack, wait_for

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(
        os.environ.get("RUN_DISTRIBUTED_TESTS") != "1",
        reason="crash scenarios on a CeleryExecutor deployment: `make test-faults`",
    ),
]

API_KEY = register_secret("faults-api-key-not-a-secret")
POOL_SLOTS = 2
WORKER_CONCURRENCY = 4
RATE_LIMIT = 5  # per task: a batch of 10 takes a few seconds, long enough to crash inside
SANDBOX_ARGS = ["--seed", "5", "--orders", "200", "--rate-limit", "10"]
BATCH_SIZE = 10
# The fault strikes once this many cancellations were applied (of about 60).
STRIKE_AT = 2
# FAULTS_API_DOWN_S=150 makes the outage outlast the DAG's retries: the run fails, a re-run
# completes (the other path the scenario accepts).
API_DOWN_S = int(os.environ.get("FAULTS_API_DOWN_S", "60"))
REDIS_DOWN_S = 5
RUN_TIMEOUT_S = 420
# Airflow notices a dead task or scheduler within seconds instead of minutes (defaults in
# brackets; docs/deployment.md says which matter in production and why).
FAST_RECOVERY = {
    # A running task whose heartbeat stopped this long ago is failed (and retried) [300].
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",  # [10]
    # A scheduler whose heartbeat stopped this long ago is dead; the other adopts its
    # tasks at its next orphan check [30, 300].
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
    # A task queued this long without starting (its broker message lost) is queued again
    # [600, checked every 120].
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
}
UNREACHABLE = re.compile(
    r"connection failed|could not connect|Connection refused|unreachable", re.IGNORECASE
)
MEASURED: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config):
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def report(text: str) -> None:
        with capture.global_and_fixture_disabled():
            print(text)

    with start_stack(
        tmp_path_factory.mktemp("airflow-faults-home"),
        report,
        worker_concurrency=WORKER_CONCURRENCY,
        pool_slots=POOL_SLOTS,
        sandbox_args=SANDBOX_ARGS,
        user_id=USER_ID,
        api_key=API_KEY,
        connection_extra={
            "seller_id": SELLER_ID,
            "business_unit": "FACL",
            "rate_limit": RATE_LIMIT,
            "timeout": 5,
        },
        schedulers=2,
        extra_env=FAST_RECOVERY,
    ) as deployment:
        wait_parsed(deployment)
        deployment.initial_state = deployment.sandbox("state")
        try:
            yield deployment
        finally:
            (deployment.logs / "measured.json").write_text(json.dumps(MEASURED, indent=1))
            leaks = [
                f"{path.relative_to(deployment.logs)}: {hide_secrets(line)}"
                for path in sorted(deployment.logs.rglob("*.log"))
                for line in find_leaks(path.read_text(errors="replace"), [API_KEY])
            ]
            assert not leaks, "\n".join(leaks[:5])


@dataclass
class Scenario:
    """One fault on the stack: the run(s), the times measured, the sandbox's ledger."""

    stack: Stack
    name: str
    ledger: Ledger = field(init=False)
    rows: list[tuple[str, str, int]] = field(init=False)
    runs: list[str] = field(default_factory=list)
    fault_at: float = 0.0  # monotonic
    fault_wall: float = 0.0  # epoch, to compare with the sandbox's request log
    applied_at_fault: int = 0
    ended_at: float = 0.0  # monotonic: the last run seen finished
    notes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        stack = self.stack
        restarted = stack.restore()
        if restarted:
            self.notes.append(f"restarted first (left down by an earlier scenario): {restarted}")
        # A fresh sandbox state (every item pending again, no cancellation counted).
        stack.sandbox_post("state", stack.initial_state)
        stack.clear_ledger()
        before = stack.sandbox("state")
        assert not cancellations(stack)
        self.rows = warehouse_rows(before)
        stack.set_warehouse_stock(self.rows)
        self.ledger = Ledger(before, predict(before, self.rows))
        assert len(self.ledger.predicted) > 20

    def trigger(self) -> str:
        run_id = trigger(self.stack, run_conf(BATCH_SIZE))
        self.runs.append(run_id)
        return run_id

    def strike_when_applied(self, run_id: str, fault: Callable[[], Any]) -> Any:
        """Wait until STRIKE_AT cancellations were applied (the run still going), then
        strike: ``fault()`` right away."""

        def started() -> int | None:
            applied = len(cancellations(self.stack))
            if applied >= STRIKE_AT:
                return applied
            assert run_state(self.stack, run_id)["state"] not in ("success", "failed")
            return None

        wait_for(f"{STRIKE_AT} cancellations applied", started, 240, every=0.1)
        self.fault_at, self.fault_wall = time.monotonic(), time.time()
        result = fault()
        self.applied_at_fault = len(self.ledger_counts_at_fault())
        return result

    def ledger_counts_at_fault(self) -> dict[int, int]:
        """The sandbox's counts right after the fault (from its state file when it is the
        sandbox that is down)."""
        if "sandbox" in self.stack.procs:
            return cancellations(self.stack)
        saved = json.loads(self.stack.sandbox_state.read_text())
        return {int(k): v for k, v in saved["cancellations"].items()}

    def finish(self, run_id: str, *, rerun_allowed: bool, why_failed: re.Pattern | None = None):
        """Wait for the run; if it failed and the scenario allows it, check why and run once
        more. Returns the run that completed."""
        run = wait_run(self.stack, run_id, RUN_TIMEOUT_S)
        self.ended_at = time.monotonic()
        if run["state"] == "failed":
            states = {(t["task_id"], t["map_index"]): t["state"] for t in self.tis(run_id)}
            assert rerun_allowed, f"run {run_id} failed: {states}"
            message = self.failure_text(run_id)
            if why_failed is not None:
                assert why_failed.search(message), f"the failure does not say why: {message}"
            # The failed run's summary holds no false claim: what it reports canceled is
            # canceled, and each of its short items is reported somewhere.
            first = summary_of(self.stack, run_id)
            done, failed = summary_ids(first, "canceled"), summary_ids(first, "failed")
            if done is not None and failed is not None:
                assert done <= set(cancellations(self.stack))
                reported = ("canceled", "already_canceled", "no_longer_pending", "failed")
                assert sum(first[k] for k in reported) == first["short"], counts_only(first)
            self.notes.append(f"run 1 failed ({first_line(why_failed, message)}); re-run")
            before = self.stack.sandbox("state")
            short = predict(before, self.rows)
            run_id = self.trigger()
            run = wait_run(self.stack, run_id, RUN_TIMEOUT_S)
            self.ended_at = time.monotonic()
            assert run["state"] == "success", f"the re-run {run_id} ended {run['state']}"
            self.check_summary(run_id, short)
        else:
            self.check_summary(run_id, self.ledger.predicted)
        return run

    def check_summary(self, run_id: str, short: set[int]) -> None:
        summary = summary_of(self.stack, run_id)
        check_summary(summary, short, set(cancellations(self.stack)))
        self.summary = summary

    def failure_text(self, run_id: str) -> str:
        """What the failed run says: its summary's failures and the failed tasks' logs."""
        parts = []
        try:
            summary = summary_of(self.stack, run_id)
            parts += [f"{f.get('code')}: {f.get('message')}" for f in summary.get("failures", [])]
        except RuntimeError:
            pass
        run_dir = self.stack.logs / f"dag_id={DAG_ID}" / f"run_id={run_id}"
        for path in sorted(run_dir.rglob("*.log")) if run_dir.exists() else []:
            parts += [
                line for line in path.read_text(errors="replace").splitlines() if "rror" in line
            ]
        return "\n".join(parts)

    def tis(self, run_id: str) -> list[dict[str, Any]]:
        return task_instances(self.stack, run_id)

    def report(self, capsys: pytest.CaptureFixture[str], **extra: Any) -> dict[str, Any]:
        counts = self.ledger.check(self.stack)
        # The seller's books (the ledger in the warehouse database) agree with the sandbox.
        extra = {"ledger_rows": check_books(self.stack, counts), **extra}
        log = self.stack.sandbox("requests")
        after = sorted(
            e["time"]
            for e in log
            if e["action"] == "SetStatusToCanceled"
            and e["verdict"] == "ok"
            and e["time"] > self.fault_wall
        )
        retries: dict[str, int] = {}
        for run_id in self.runs:
            for task, n in retries_taken(self.tis(run_id)).items():
                retries[f"run {self.runs.index(run_id) + 1}: {task}"] = n
        measured = {
            "scenario": self.name,
            "applied_before_fault": self.applied_at_fault,
            "short_items": len(self.ledger.predicted),
            "fault_to_first_cancel_after_s": round(after[0] - self.fault_wall, 1)
            if after
            else None,
            "fault_to_run_end_s": round(self.ended_at - self.fault_at, 1),
            "runs": len(self.runs),
            "retries": retries,
            "cancellations_per_item": per_item(counts),
            "summary": counts_only(self.summary),
            "notes": self.notes,
            **extra,
        }
        MEASURED.append(measured)
        with capsys.disabled():
            print(
                f"\n[{self.name}] fault after {self.applied_at_fault} of "
                f"{len(self.ledger.predicted)} cancellations; first cancellation after the "
                f"fault +{measured['fault_to_first_cancel_after_s']} s, run(s) done "
                f"+{measured['fault_to_run_end_s']} s; runs {len(self.runs)}; retries "
                f"{retries or 'none'}; cancellations per item: {measured['cancellations_per_item']}"
                f"; summary of the run that completed {measured['summary']}"
                + "".join(f"; {k} {v}" for k, v in extra.items())
                + "".join(f"; {n}" for n in self.notes)
            )
        return measured


def first_line(pattern: re.Pattern | None, text: str) -> str:
    if pattern is not None:
        match = pattern.search(text)
        if match:
            start = text.rfind("\n", 0, match.start()) + 1
            end = text.find("\n", match.end())
            return text[start : end if end >= 0 else None].strip()[:200]
    return text.strip().splitlines()[0][:200] if text.strip() else "no message"


def test_worker_killed_mid_batch(stack, capsys):
    scenario = Scenario(stack, "worker SIGKILLed mid-batch")
    run_id = scenario.trigger()
    pid = scenario.strike_when_applied(run_id, lambda: stack.kill("celery-worker"))
    assert 0 < scenario.applied_at_fault < len(scenario.ledger.predicted)
    stack.start_worker()
    wait_for("a new Celery worker ready", stack.worker_ready, 120)
    worker_back = time.monotonic() - scenario.fault_at
    run = scenario.finish(run_id, rerun_allowed=False)
    assert run["state"] == "success"
    tis = scenario.tis(run_id)
    retried = [
        t for t in tis if t["task_id"] == "short_stock.cancel_short_items" and t["try_number"] > 1
    ]
    assert retried, "the killed cancel tasks must have been retried"
    # The killed attempt had applied part of its batch: the retry found those items
    # canceled already and did not send them again.
    assert scenario.summary["already_canceled"] >= 1, counts_only(scenario.summary)
    scenario.report(
        capsys, killed_pid=pid, new_worker_ready_s=round(worker_back, 1), retried=len(retried)
    )


def test_api_down_for_a_minute(stack, capsys):
    scenario = Scenario(stack, f"API down {API_DOWN_S} s")
    run_id = scenario.trigger()
    code = scenario.strike_when_applied(run_id, lambda: stack.terminate("sandbox"))
    assert code == 0 and stack.sandbox_state.exists()
    saved = scenario.ledger_counts_at_fault()
    # Down for a minute (the run goes on meanwhile: retries, maybe failure).
    time.sleep(max(0.0, API_DOWN_S - (time.monotonic() - scenario.fault_at)))
    stack.start_sandbox()
    back = time.monotonic() - scenario.fault_at
    # The restarted sandbox came back from its state file: nothing applied was forgotten.
    restored = cancellations(stack)
    assert {i: restored.get(i) for i in saved} == saved
    scenario.finish(run_id, rerun_allowed=True, why_failed=UNREACHABLE)
    scenario.report(capsys, api_back_after_s=round(back, 1))


def test_broker_restart(stack, capsys):
    scenario = Scenario(stack, f"Redis restarted ({REDIS_DOWN_S} s down)")
    run_id = scenario.trigger()
    scenario.strike_when_applied(run_id, lambda: stack.terminate("redis"))
    time.sleep(REDIS_DOWN_S)
    stack.start_redis()
    scenario.finish(run_id, rerun_allowed=True)
    scenario.report(capsys)


def test_scheduler_killed(stack, capsys):
    scenario = Scenario(stack, "one of two schedulers SIGKILLed")
    run_id = scenario.trigger()
    # Kill the scheduler that queued the cancel tasks running at that moment: the other
    # must adopt them (or reset them) and schedule the rest.
    killed: dict[str, Any] = {}

    def kill() -> None:
        jobs_of = stack.scheduler_job_ids()
        running = stack.queued_by(run_id, ("running", "queued"))
        busiest = max(running, key=running.get) if running else None
        killed["name"] = next(
            (n for n, ids in jobs_of.items() if busiest in ids and n in stack.procs),
            "scheduler-1",
        )
        killed["jobs"] = jobs_of.get(killed["name"], [])
        killed["its_tasks_in_flight"] = sum(running.get(j, 0) for j in killed["jobs"])
        killed["pid"] = stack.kill(killed["name"])

    scenario.strike_when_applied(run_id, kill)
    survivor = next(n for n in ("scheduler-1", "scheduler-2") if n != killed["name"])
    run = scenario.finish(run_id, rerun_allowed=False)
    assert run["state"] == "success"
    assert survivor in stack.procs  # check_alive: still running

    def only_survivor_heartbeats() -> list[dict[str, Any]] | None:
        stack.check_alive()
        fresh = [
            j
            for j in stack.scheduler_jobs()
            if j["state"] == "running" and j["heartbeat_age_s"] < 15
        ]
        return fresh if len(fresh) == 1 else None

    wait_for("only the surviving scheduler heartbeating", only_survivor_heartbeats, 60)
    adopted = [
        line
        for line in stack.logs_of(survivor).splitlines()
        if re.search(r"adopt|orphan", line, re.IGNORECASE)
        and "Adopting or resetting orphaned tasks for active dag runs" not in line
    ]
    scenario.report(
        capsys,
        killed=killed["name"],
        its_tasks_in_flight=killed["its_tasks_in_flight"],
        survivor_adoption_lines=len(adopted),
        queued_by_job=stack.queued_by(run_id),
    )
