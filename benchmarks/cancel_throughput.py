"""1. Cancel throughput: 300 items against a sandbox that answers in 100 ms and allows 50
requests/s, with a connection budget (``rate_limit``) of 45 requests/s.

Baselines, each on a fresh sandbox:
  (a) one signed SetStatusToCanceled after another with plain ``requests`` (one Session);
  (b) Airflow's ``HttpHook`` with a hand-made signature. When apache-airflow-providers-http
      is installed it is used as is; otherwise its documented ``run()`` is emulated: per
      call the connection is read, a new ``requests.Session`` is made, the request prepared,
      environment settings merged, sent, and ``raise_for_status`` checked.
Project: one ``CancelOrderItemOperator`` task (``execute``) with the whole batch of 300.

Every run checks that all 300 cancellations succeeded. The project's items/s is reported
against each baseline and against the 45/s bound (target: at least 0.9 of it).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import (
    USER_AGENT,
    Result,
    SandboxProcess,
    emit,
    fmt_rate,
    note,
    run_standalone,
    sandbox_process,
    signed_url,
)

ITEMS = 300
LATENCY_MS = 100
SANDBOX_RATE = 50
BUDGET = 45.0
TARGET = 0.9
SEED = 11
ORDERS = 400
RUN_TIMEOUT_S = 120.0  # a baseline run that takes longer is cut short (items/s still valid)
CONN_ID = "bench_seller_center"
HTTP_CONN_ID = "bench_http"


def _sandbox() -> Any:
    return sandbox_process(
        "--seed",
        str(SEED),
        "--orders",
        str(ORDERS),
        "--latency-ms",
        str(LATENCY_MS),
        "--rate-limit",
        str(SANDBOX_RATE),
    )


def pending_targets(sandbox: SandboxProcess, count: int = ITEMS) -> list[dict[str, int]]:
    """The first ``count`` cancelable items (pending, shipped by the seller) of the main
    seller, with their order ids."""
    state = sandbox.state()
    found = [
        {"order_item_id": item["order_item_id"], "order_id": order["order_id"]}
        for order in state["orders"]
        if order["seller_id"] == sandbox.seller_id
        for item in order["items"]
        if item["status"] == "pending" and item["shipping_type"] != "Fulfillment"
    ]
    if len(found) < count:
        raise RuntimeError(f"seed {SEED} with {ORDERS} orders has only {len(found)} items")
    return found[:count]


def _cancel_params(item_id: int) -> dict[str, str]:
    return {"OrderItemId": str(item_id), "Reason": "SHORTAGE", "ReasonDetail": "Out of stock"}


def _succeeded(body: bytes) -> bool:
    return b"<SuccessResponse" in body[:200]


def _loop(targets: list[dict[str, int]], send: Callable[[int], bytes]) -> tuple[int, int, float]:
    """Cancel one item after another: (succeeded, attempted, seconds)."""
    ok = done = 0
    started = time.perf_counter()
    deadline = started + RUN_TIMEOUT_S
    for target in targets:
        if time.perf_counter() > deadline:
            break
        done += 1
        ok += _succeeded(send(target["order_item_id"]))
    return ok, done, time.perf_counter() - started


def plain_requests(
    sandbox: SandboxProcess, targets: list[dict[str, int]]
) -> tuple[int, int, float]:
    import requests

    with requests.Session() as session:

        def send(item_id: int) -> bytes:
            url = signed_url(sandbox.url, "SetStatusToCanceled", _cancel_params(item_id))
            answer = session.post(url, headers={"User-Agent": USER_AGENT}, timeout=30)
            return answer.content

        return _loop(targets, send)


def _http_hook_available() -> bool:
    try:
        import airflow.providers.http.hooks.http  # noqa: F401
    except ImportError:
        return False
    return True


class EmulatedHttpHook:
    """What ``HttpHook(method="POST").run(endpoint)`` does per call (providers/http
    ``hooks/http.py``): read the connection, make a new Session (auth and headers from the
    connection), prepare the request, merge environment settings, send, raise_for_status.
    The Session is not closed: as in HttpHook, it is left to the garbage collector."""

    def __init__(self, http_conn_id: str) -> None:
        self.http_conn_id = http_conn_id

    def run(self, endpoint: str, headers: dict[str, str]) -> Any:
        import requests

        from airflow_seller_provider.compat import BaseHook

        session = requests.Session()
        connection = BaseHook.get_connection(self.http_conn_id)
        base_url = connection.host or ""
        if connection.login:
            session.auth = (connection.login, connection.password or "")
        session.headers.update(headers)
        url = base_url + endpoint if base_url.endswith("/") else f"{base_url}/{endpoint}"
        prepared = session.prepare_request(requests.Request("POST", url, headers=headers))
        settings = session.merge_environment_settings(
            prepared.url, proxies={}, stream=False, verify=None, cert=None
        )
        response = session.send(prepared, timeout=None, allow_redirects=True, **settings)
        response.raise_for_status()
        return response


def http_hook(sandbox: SandboxProcess, targets: list[dict[str, int]]) -> tuple[int, int, float]:
    os.environ[f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "http", "host": sandbox.url}
    )
    if _http_hook_available():
        from airflow.providers.http.hooks.http import HttpHook

        hook: Any = HttpHook(method="POST", http_conn_id=HTTP_CONN_ID)
    else:
        hook = EmulatedHttpHook(HTTP_CONN_ID)

    def send(item_id: int) -> bytes:
        # The hand-made signature: the whole signed query string as the endpoint.
        url = signed_url(sandbox.url, "SetStatusToCanceled", _cancel_params(item_id))
        endpoint = url[len(sandbox.url) :]
        return hook.run(endpoint, headers={"User-Agent": USER_AGENT}).content

    return _loop(targets, send)


class _TaskInstance:
    """Stands in for Airflow's TaskInstance: what ``execute`` uses of it."""

    try_number = 1

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def operator(sandbox: SandboxProcess, targets: list[dict[str, int]]) -> tuple[int, int, float]:
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
        sandbox.connection({"rate_limit": BUDGET})
    )
    from airflow_seller_provider.operators.cancel_order_item import CancelOrderItemOperator

    task = CancelOrderItemOperator(
        task_id="cancel_short_items",
        order_item_id=targets,
        reason="SHORTAGE",
        reason_detail="Out of stock",
        seller_center_conn_id=CONN_ID,
    )
    started = time.perf_counter()
    result = task.execute({"ti": _TaskInstance()})
    elapsed = time.perf_counter() - started
    return result["counts"]["canceled"], len(targets), elapsed


def _measure(
    name: str, runner: Callable[[SandboxProcess, list[dict[str, int]]], tuple[int, int, float]]
) -> float:
    """items/s of one run on a fresh sandbox; every attempted cancel must have succeeded
    and the sandbox must have applied each exactly once."""
    with _sandbox() as sandbox:
        targets = pending_targets(sandbox)
        ok, done, seconds = runner(sandbox, targets)
        log = sandbox.requests_log()
    cancels = [e for e in log if e["action"] == "SetStatusToCanceled"]
    refused = sum(1 for e in cancels if e["verdict"] != "ok")
    if ok != done or done == 0:
        raise RuntimeError(f"{name}: {ok} of {done} cancellations succeeded")
    cut = "" if done == len(targets) else f", cut at {RUN_TIMEOUT_S:g} s after {done} items"
    note(
        f"{name}: {done} items in {seconds:.2f} s = {done / seconds:.1f} items/s "
        f"({len(cancels)} SetStatusToCanceled requests, {refused} throttled or refused{cut})"
    )
    return done / seconds


def run() -> list[Result]:
    hook_kind = (
        "HttpHook"
        if _http_hook_available()
        else "HttpHook emulated (apache-airflow-providers-http is not installed)"
    )
    plain = _measure("baseline plain requests, one Session, one by one", plain_requests)
    hooked = _measure(f"baseline {hook_kind}, one by one", http_hook)
    project = _measure(
        f"project CancelOrderItemOperator, max_concurrency 8, rate_limit {BUDGET:g}", operator
    )
    what = f"cancel {ITEMS} items, {LATENCY_MS} ms latency, sandbox {SANDBOX_RATE}/s"
    results = [
        Result(
            what=f"{what}: operator vs plain requests loop",
            project=fmt_rate(project, "items/s"),
            baseline=fmt_rate(plain, "items/s"),
            ratio=project / plain,
            target="> 1x",
            met=project > plain,
        ),
        Result(
            what=f"{what}: operator vs {hook_kind} loop",
            project=fmt_rate(project, "items/s"),
            baseline=fmt_rate(hooked, "items/s"),
            ratio=project / hooked,
            target="> 1x",
            met=project > hooked,
        ),
        Result(
            what=f"{what}: operator vs the {BUDGET:g}/s budget (bound)",
            project=fmt_rate(project, "items/s"),
            baseline=fmt_rate(BUDGET, "items/s (bound)"),
            ratio=project / BUDGET,
            target=f">= {TARGET:g}x of the bound",
            met=project / BUDGET >= TARGET,
        ),
    ]
    emit(results)
    return results


def main() -> int:
    return run_standalone("1. Cancel throughput", run)


if __name__ == "__main__":
    raise SystemExit(main())
