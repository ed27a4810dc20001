"""7. Large-seller scan: the find step (``pending_scan.find_short``) at 1k to 50k pending orders.

The sandbox runs out of process with 100 ms added to every API answer and a 45/s token
bucket (bursts of 45); the client paces itself at ``rate_limit=45`` with
``max_concurrency=16``, page_size 1000, order batches of 100 and SKU batches of 100. Every
order is pending, 2 items each, over 500 SKUs (every SKU appears among the first 250
orders). One SKU in 50 declares half the units its pending items reserve, so a share of the
items (1 % of them) is short and the XCom's list of short items grows with the size (the
sandbox runs with ``--negative-stock show``: Seller Center's figures below zero).

Per size, from the sandbox's request log: calls per action against the minimum
(ceil(orders/1000) GetOrders + ceil(orders/100) GetMultipleOrderItems + ceil(SKUs/100)
GetProducts), and no E429. Wall time of ``find_short`` (a run without tracemalloc) against
the bound max(calls / 45, critical path x latency); the critical path is the longest chain
of calls where each needs the answer of the one before: the first GetOrders page (it gives
TotalCount), a later page (only when there is more than one page), that page's
GetMultipleOrderItems batch, a GetProducts batch of SKUs those items name: 4 calls with 2 or
more pages, 3 with one. A tighter bound is shown beside it (not the target): what the
client's own pacer allows with zero CPU and no concurrency limit, replayed with ``Pacer``
itself (``paced_finish``): the first page at 0, every other call once it has answered,
each as soon as the pacer's burst and one-second window let it start, the last answer one
latency after the last start; or the critical path, when longer.

The DAG's default ``max_concurrency`` (8) is measured too at 1k and 5k (notes only): the
target is judged at 16, the setting the README gives for a seller of this size.

Then a second run under tracemalloc (client side: the sandbox is another process) gives the
find step's peak memory, per 1k pending items; and the XCom the find step writes,
``len(json.dumps(found_payload(result, "item")))`` bytes. The sandbox's load time and its
CPU time during the scan are noted, to show whether the sandbox is the bottleneck.
"""

from __future__ import annotations

import gc
import json
import math
import os
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from benchmarks.common import (
    SELLER_ID,
    Result,
    SandboxProcess,
    cpu_seconds,
    emit,
    fmt_bytes,
    note,
    run_standalone,
    sandbox_process,
)

SIZES = (1_000, 5_000, 20_000, 50_000)
ITEMS_PER_ORDER = 2
SKUS = 500
SHORT_EVERY = 50  # one SKU in 50 declares half the units its pending items reserve
PAGE_SIZE = 1000  # the client's default page_size
ORDER_BATCH = 100
SKU_BATCH = 100
LATENCY_S = 0.100
RATE = 45.0  # client rate_limit, and the sandbox's token bucket
# A quarter of a second's budget and more: the first page's ten item batches, the pages it
# makes known and the first stock batches start at once (README, "Sizing max_concurrency").
MAX_CONCURRENCY = 16
LOOKBACK_DAYS = 30
SHARE_TARGET = 0.85  # bound / wall
MEMORY_TARGET = 1.1  # what each further 1k items adds to the peak: later step / first step


def _sku(number: int) -> str:
    return f"LS-{number:04d}"


def build_state(orders: int) -> tuple[dict[str, Any], int]:
    """``orders`` pending orders of the main seller over the last 10 days (oldest first),
    ``ITEMS_PER_ORDER`` items each over ``SKUS`` SKUs; and how many items must be short."""
    start = datetime.now(UTC) - timedelta(days=10)
    step = timedelta(days=9) / orders
    reserved = [0] * SKUS
    rows = []
    for number in range(orders):
        created = (start + step * number).strftime("%Y-%m-%d %H:%M:%S")
        items = []
        for k in range(ITEMS_PER_ORDER):
            sku = (number * ITEMS_PER_ORDER + k) % SKUS
            reserved[sku] += 1
            items.append(
                {
                    "order_item_id": 70_000_000 + number * ITEMS_PER_ORDER + k,
                    "sku": _sku(sku),
                    "status": "pending",
                    "shipping_type": "Dropshipping",
                }
            )
        rows.append(
            {
                "order_id": 5_000_000 + number,
                "seller_id": SELLER_ID,
                "created_at": created,
                "operator_code": "facl",
                "shipping_type": "Dropshipping",
                "items": items,
            }
        )
    products = []
    short = 0
    for n in range(SKUS):
        if n % SHORT_EVERY == 0:
            quantity = reserved[n] // 2
            short += reserved[n] - quantity
        else:
            quantity = reserved[n] + 10
        products.append(
            {"seller_id": SELLER_ID, "seller_sku": _sku(n), "quantity": {"FACL": quantity}}
        )
    state = {"sellers": [{"seller_id": SELLER_ID}], "orders": rows, "products": products}
    return state, short


def minimum_calls(orders: int, skus: int) -> dict[str, int]:
    return {
        "GetOrders": math.ceil(orders / PAGE_SIZE),
        "GetMultipleOrderItems": math.ceil(orders / ORDER_BATCH),
        "GetProducts": math.ceil(skus / SKU_BATCH),
    }


def critical_path(orders: int) -> int:
    """First page -> a later page (when there is one) -> its items -> a GetProducts batch."""
    return 4 if orders > PAGE_SIZE else 3


def paced_finish(calls: int, latency: float = LATENCY_S, rate: float = RATE) -> float:
    """When ``calls`` calls can have answered at the earliest, with zero CPU and no
    concurrency limit: the first page at 0, every other call once it has answered
    (``latency``), each as soon as the client's own pacer (its burst and its one-second
    window) lets it start, and the last answer one ``latency`` after the last start."""
    from airflow_seller_provider.client.transport import Pacer

    pacer = Pacer(rate)
    last = pacer.reserve(0.0)
    for _ in range(calls - 1):
        last = latency + pacer.reserve(latency)
    return last + latency


def _find_short(sandbox: SandboxProcess, max_concurrency: int = MAX_CONCURRENCY) -> Any:
    from airflow_seller_provider.short_stock.find import find_short

    client = sandbox.client(
        page_size=PAGE_SIZE,
        sku_batch_size=SKU_BATCH,
        order_batch_size=ORDER_BATCH,
        rate_limit=RATE,
    )
    try:
        return find_short(client, lookback_days=LOOKBACK_DAYS, max_concurrency=max_concurrency)
    finally:
        client.close()


def _calls(log: list[dict[str, Any]]) -> dict[str, Any]:
    calls: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    for entry in log:
        calls[entry["action"]] = calls.get(entry["action"], 0) + 1
        verdicts[entry["verdict"]] = verdicts.get(entry["verdict"], 0) + 1
    starts = sorted(entry["time"] for entry in log)
    spread = starts[-1] - starts[0] if len(starts) > 1 else 0.0
    return {
        "calls": calls,
        "verdicts": verdicts,
        "e429": verdicts.get("E429", 0),
        # requests per second as the sandbox saw them arrive (first to last arrival)
        "arrival_rate": (len(starts) - 1) / spread if spread > 0 else math.nan,
    }


def _check(result: Any, orders: int, short: int) -> list[str]:
    """What is wrong with the scan's result (empty when every order and item was seen)."""
    from airflow_seller_provider.short_stock.find import found_payload

    wrong = []
    ids = {i.order_item_id for i in result.items}
    if result.orders_seen != orders:
        wrong.append(f"saw {result.orders_seen} of {orders} orders")
    if len(result.items) != orders * ITEMS_PER_ORDER or len(ids) != len(result.items):
        wrong.append(f"{len(result.items)} items ({len(ids)} distinct), {orders * 2} expected")
    if len(result.decision.short) != short:
        wrong.append(f"{len(result.decision.short)} short items, {short} expected")
    if len(result.stock.units) != SKUS:
        wrong.append(f"{len(result.stock.units)} stock figures, {SKUS} expected")
    payload = found_payload(result, "item")
    if payload["unknown_stock"] or payload["unknown_shipping"] or payload["no_business_unit"]:
        wrong.append(f"unexpected counts {payload}")
    return wrong


PROBES = 5  # calls of each kind in the per-call CPU probe (the sandbox's clock ticks 10 ms)


def _per_call_cpu(sandbox: SandboxProcess) -> dict[str, tuple[float, float]]:
    """CPU per call of each kind, (sandbox, client), one call at a time (nothing else in
    flight): a GetOrders page of 1000 orders (the last page: the sandbox filters and sorts
    every order for each page), a GetMultipleOrderItems batch of 100, a GetProducts batch
    of 100. The calls are made after the scan and are not counted in its calls."""
    from airflow_seller_provider.client.api import SellerCenterClient

    client = sandbox.client(page_size=PAGE_SIZE)
    since = datetime.now(UTC) - timedelta(days=LOOKBACK_DAYS)
    try:
        first = client.orders_page(offset=0, status="pending", created_after=since)
        total = first.total_count or len(first.orders)
        last = max(0, (total - 1) // PAGE_SIZE * PAGE_SIZE)
        ids = [o.order_id for o in first.orders[:ORDER_BATCH]]
        skus = [_sku(n) for n in range(SKU_BATCH)]
        kinds: dict[str, Any] = {
            "GetOrders": lambda: client.orders_page(
                offset=last, status="pending", created_after=since
            ),
            "GetMultipleOrderItems": lambda: SellerCenterClient.get_multiple_order_items(
                client, ids
            ),
            "GetProducts": lambda: client.get_stock(skus),
        }
        costs = {}
        for kind, call in kinds.items():
            server = cpu_seconds(sandbox.pid) if sandbox.pid else None
            own = time.thread_time()
            for _ in range(PROBES):
                call()
            own = (time.thread_time() - own) / PROBES
            after = cpu_seconds(sandbox.pid) if sandbox.pid else None
            served = (
                (after - server) / PROBES if server is not None and after is not None else math.nan
            )
            costs[kind] = (served, own)
        return costs
    finally:
        client.close()


def measure(sandbox: SandboxProcess, orders: int) -> dict[str, Any]:
    from airflow_seller_provider.short_stock.find import found_payload

    built = time.perf_counter()
    state, short = build_state(orders)
    began = time.perf_counter()
    sandbox.load_state(state)
    loaded = time.perf_counter()
    del state
    gc.collect()

    # Timed run, without tracemalloc (which slows every allocation).
    sandbox.clear_requests_log()
    load_before = os.getloadavg()[0]
    cpu_before = cpu_seconds(sandbox.pid) if sandbox.pid else None
    client_before = time.process_time()
    started = time.perf_counter()
    result = _find_short(sandbox)
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - client_before
    cpu_after = cpu_seconds(sandbox.pid) if sandbox.pid else None
    load_after = os.getloadavg()[0]
    timed = _calls(sandbox.requests_log())
    wrong = _check(result, orders, short)
    xcom = len(json.dumps(found_payload(result, "item")).encode("utf-8"))
    items = result.decision.considered
    del result
    gc.collect()

    # Memory run: the same scan under tracemalloc.
    sandbox.clear_requests_log()
    tracemalloc.start()
    try:
        again = _find_short(sandbox)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    traced = _calls(sandbox.requests_log())
    wrong += [f"memory run: {w}" for w in _check(again, orders, short)]
    if traced["calls"] != timed["calls"]:
        wrong.append(f"memory run made {traced['calls']}, timed run {timed['calls']}")
    del again
    gc.collect()
    per_call = _per_call_cpu(sandbox)

    sandbox_cpu = (
        cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    )
    return {
        "orders": orders,
        "items": items,
        "short": short,
        "build_s": began - built,
        "load_s": loaded - began,
        "wall": wall,
        "sandbox_cpu": sandbox_cpu,
        "client_cpu": client_cpu,
        "load": (load_before, load_after),
        "per_call": per_call,
        "peak": peak,
        "xcom": xcom,
        "wrong": wrong,
        "e429": timed["e429"] + traced["e429"],
        **{k: timed[k] for k in ("calls", "verdicts", "arrival_rate")},
    }


def run() -> list[Result]:
    runs: list[dict[str, Any]] = []
    with sandbox_process(
        "--orders", "10", "--latency-ms", f"{LATENCY_S * 1000:g}", "--rate-limit", f"{RATE:g}",
        "--negative-stock", "show",  # the short SKUs read below zero (the default clamps)
    ) as sandbox:  # fmt: skip
        measure(sandbox, 300)  # warm-up: imports, parser objects, connections
        for orders in (1_000, 5_000):
            state, _ = build_state(orders)
            sandbox.load_state(state)
            del state
            sandbox.clear_requests_log()
            started = time.perf_counter()
            _find_short(sandbox, DEFAULT_MAX_CONCURRENCY)
            wall = time.perf_counter() - started
            calls = sum(_calls(sandbox.requests_log())["calls"].values())
            note(
                f"{orders:,} orders at the default max_concurrency {DEFAULT_MAX_CONCURRENCY}: "
                f"find_short {wall:.2f} s, {calls} calls, "
                f"{max(calls / RATE, critical_path(orders) * LATENCY_S) / wall:.2f} of the bound"
            )
        for orders in SIZES:
            got = measure(sandbox, orders)
            runs.append(got)
            calls = sum(got["calls"].values())
            cpu = got["sandbox_cpu"]
            note(
                f"{orders:,} orders: state built in {got['build_s']:.2f} s, loaded in "
                f"{got['load_s']:.2f} s; {calls} calls {got['calls']}, verdicts "
                f"{got['verdicts']}, arrivals {got['arrival_rate']:.1f}/s; find_short "
                f"{got['wall']:.2f} s, sandbox CPU "
                + ("n/a" if cpu is None else f"{cpu:.2f} s ({cpu / calls * 1e3:.1f} ms/call)")
                + f"; peak {fmt_bytes(got['peak'])}; XCom {got['xcom']:,} B "
                f"({got['short']} short items); client CPU {got['client_cpu']:.2f} s "
                f"({got['client_cpu'] / calls * 1e3:.1f} ms/call); load average "
                f"{got['load'][0]:.1f} -> {got['load'][1]:.1f}; CPU per call alone (sandbox + "
                "client): "
                + ", ".join(
                    f"{kind} {server * 1e3:.0f} + {own * 1e3:.0f} ms"
                    for kind, (server, own) in got["per_call"].items()
                )
                + (f"; WRONG: {'; '.join(got['wrong'])}" if got["wrong"] else "")
            )

    results: list[Result] = []
    for got in runs:
        orders = got["orders"]
        minimum = minimum_calls(orders, SKUS)
        made, least = sum(got["calls"].values()), sum(minimum.values())
        complete = not got["wrong"] and got["e429"] == 0
        results.append(
            Result(
                what=f"large scan {orders:,} orders: API calls vs the minimum (no E429, none lost)",
                project=f"{made} calls, {got['e429']} E429"
                + ("" if not got["wrong"] else ", WRONG RESULT"),
                baseline=f"{least} calls",
                ratio=made / least,
                target="= 1x (equal)",
                met=made == least and complete,
            )
        )
    for got in runs:
        orders = got["orders"]
        made = sum(got["calls"].values())
        path = critical_path(orders)
        bound = max(made / RATE, path * LATENCY_S)
        tight = max(paced_finish(made), path * LATENCY_S)
        got["bound"], got["tight"] = bound, tight
        results.append(
            Result(
                what=f"large scan {orders:,} orders, 100 ms, 45/s: bound vs find_short wall time",
                project=f"{got['wall']:.2f} s",
                baseline=f"{bound:.2f} s bound (tight {tight:.2f} s = {tight / got['wall']:.2f}x)",
                ratio=bound / got["wall"],
                target=f">= {SHARE_TARGET:g}x of the bound",
                met=bound / got["wall"] >= SHARE_TARGET,
            )
        )
    # Memory per 1k pending items, as what each further 1k items adds (the slope of the
    # peak between sizes): the peak also holds a fixed part (the pages in flight, at most
    # max_concurrency x page_size orders), which the per-item cost must not be confused with.
    flat = [g for g in runs if g["orders"] >= 5_000]
    slopes = []
    for before, after in zip(flat, flat[1:], strict=False):
        added = (after["peak"] - before["peak"]) / ((after["items"] - before["items"]) / 1000)
        slopes.append((before["orders"], after["orders"], added))
    if slopes:
        first = slopes[0][2]
        for low_n, high_n, added in slopes:
            results.append(
                Result(
                    what=f"large scan {low_n:,}->{high_n:,} orders: peak memory each further "
                    "1k pending items adds, vs the first step (5k-20k)",
                    project=fmt_bytes(added),
                    baseline=fmt_bytes(first),
                    ratio=added / first if first else float("inf"),
                    target=f"<= {MEMORY_TARGET:g}x (flat)",
                    met=added <= MEMORY_TARGET * first,
                )
            )
    for got in flat:
        per_k = got["peak"] / (got["items"] / 1000)
        note(f"{got['orders']:,} orders: peak per 1k items {fmt_bytes(per_k)} (fixed part in)")
    note("per 1k orders: calls, wall s, peak MiB, XCom B; marginal peak per 1k orders; CPU:")
    previous = None
    for got in runs:
        k = got["orders"] / 1000
        marginal = ""
        if previous is not None:
            grown = (got["peak"] - previous["peak"]) / (k - previous["orders"] / 1000)
            marginal = f", marginal peak {fmt_bytes(grown)}/1k orders"
        cpu = got["client_cpu"] + (got["sandbox_cpu"] or 0.0)
        note(
            f"  {got['orders']:,}: {sum(got['calls'].values()) / k:.1f} calls, "
            f"{got['wall'] / k:.3f} s, {got['peak'] / k / 2**20:.2f} MiB, "
            f"{got['xcom'] / k:,.0f} B{marginal}; client + sandbox CPU {cpu:.2f} s = "
            f"{cpu / got['bound']:.2f} cores busy if the scan ran at its bound "
            f"({cpu / got['wall']:.2f} at its wall time)"
        )
        previous = got
    emit(results)
    return results


def main() -> int:
    return run_standalone("7. Large-seller scan", run)


if __name__ == "__main__":
    raise SystemExit(main())
