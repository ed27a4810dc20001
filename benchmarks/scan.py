"""4. Scan: the example DAG's find step (``pending_scan.find_short``) on a big seller.

The sandbox (out of process, zero latency) holds 20,000 orders of which 5,000 are pending,
2 items each, over 250 SKUs. Counted from the sandbox's request log: the API calls the find
step makes, against the minimum the API allows: ceil(pending/1000) GetOrders pages +
ceil(pending/100) GetMultipleOrderItems batches + ceil(SKUs/100) GetProducts batches.

Peak memory (tracemalloc, client side only: the sandbox is another process) at 5,000 and at
20,000 orders with 5,000 pending in both (non-pending orders must cost nothing), and at
5,000 vs 10,000 pending (memory may grow only by what is kept per pending order). "Kept" is
what the step holds at its end (the ScanResult: items, stock, decision) plus its order-id ->
CreatedAt map, which it holds until the items are read.
"""

from __future__ import annotations

import gc
import math
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import (
    SELLER_ID,
    Result,
    SandboxProcess,
    emit,
    fmt_bytes,
    note,
    run_standalone,
    sandbox_process,
)

ITEMS_PER_ORDER = 2
SKUS = 250
PAGE_SIZE = 1000  # the client's default page_size, which the DAG uses
ORDER_BATCH = 100  # the DAG's batch_size cap (and the API's GetMultipleOrderItems limit)
SKU_BATCH = 100  # the client's default sku_batch_size
LOOKBACK_DAYS = 30
MEMORY_TARGET = 1.1  # peak may exceed the baseline's by at most 10 %


def build_state(total_orders: int, pending_orders: int) -> dict[str, Any]:
    """A sandbox state: ``total_orders`` orders of the main seller over the last 10 days,
    ``pending_orders`` of them (spread evenly) pending, the rest delivered."""
    start = datetime.now(UTC) - timedelta(days=10)
    step = timedelta(days=9) / max(1, total_orders)
    orders = []
    for number in range(total_orders):
        pending = (number * pending_orders) // total_orders != (
            (number + 1) * pending_orders
        ) // total_orders
        created = (start + step * number).strftime("%Y-%m-%d %H:%M:%S")
        orders.append(
            {
                "order_id": 3_000_000 + number,
                "seller_id": SELLER_ID,
                "created_at": created,
                "items": [
                    {
                        "order_item_id": 50_000_000 + number * ITEMS_PER_ORDER + k,
                        "sku": f"SCAN-{(number * ITEMS_PER_ORDER + k) % SKUS:03d}",
                        "status": "pending" if pending else "delivered",
                    }
                    for k in range(ITEMS_PER_ORDER)
                ],
            }
        )
    products = [
        {"seller_id": SELLER_ID, "seller_sku": f"SCAN-{n:03d}", "stock": {"FACL": 10}}
        for n in range(SKUS)
    ]
    return {"sellers": [{"seller_id": SELLER_ID}], "orders": orders, "products": products}


def minimum_calls(pending_orders: int, skus: int) -> dict[str, int]:
    return {
        "GetOrders": math.ceil(pending_orders / PAGE_SIZE),
        "GetMultipleOrderItems": math.ceil(pending_orders / ORDER_BATCH),
        "GetProducts": math.ceil(skus / SKU_BATCH),
    }


def _find_short(sandbox: SandboxProcess) -> Any:
    from airflow_seller_provider.short_stock.find import find_short

    client = sandbox.client(
        page_size=PAGE_SIZE, sku_batch_size=SKU_BATCH, order_batch_size=ORDER_BATCH
    )
    try:
        return find_short(client, lookback_days=LOOKBACK_DAYS)
    finally:
        client.close()


def _created_map_bytes(result: Any) -> int:
    """What the order-id -> CreatedAt map the step holds costs, rebuilt the same way (fresh
    int keys, the same datetime objects)."""
    orders = {item.order_id: item.order_created_at for item in result.items}
    gc.collect()
    tracemalloc.start()
    try:
        rebuilt = {int(str(order_id)): created for order_id, created in orders.items()}
        size = tracemalloc.get_traced_memory()[0]
        del rebuilt
    finally:
        tracemalloc.stop()
    return size


def measure(sandbox: SandboxProcess, state: dict[str, Any]) -> dict[str, Any]:
    """Load ``state``, run the find step once under tracemalloc: peak, kept, calls."""
    sandbox.load_state(state)
    sandbox.clear_requests_log()
    gc.collect()
    tracemalloc.start()
    try:
        started = time.perf_counter()
        result = _find_short(sandbox)
        seconds = time.perf_counter() - started
        gc.collect()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    log = sandbox.requests_log()
    calls: dict[str, int] = {}
    for entry in log:
        calls[entry["action"]] = calls.get(entry["action"], 0) + 1
    last_page = [e for e in log if e["action"] == "GetOrders"][-1:]
    return {
        "peak": peak,
        "kept": kept + _created_map_bytes(result),
        "calls": calls,
        "verdicts": {e["verdict"] for e in log},
        "orders_seen": result.orders_seen,
        "items": len(result.items),
        "skus": len({i.sku for i in result.items}),
        "seconds": seconds,
        "last_page_offset": last_page[0]["params"].get("Offset") if last_page else None,
    }


def run() -> list[Result]:
    configs = {
        "20k/5k": (20_000, 5_000),
        "5k/5k": (5_000, 5_000),
        "20k/10k": (20_000, 10_000),
    }
    runs: dict[str, dict[str, Any]] = {}
    with sandbox_process("--orders", "10") as sandbox:
        # Warm-up: imports, parser objects and the date cache, so they are not measured.
        measure(sandbox, build_state(2_000, 2_000))
        for name, (total, pending) in configs.items():
            runs[name] = measure(sandbox, build_state(total, pending))
            got = runs[name]
            if got["orders_seen"] != pending or got["items"] != pending * ITEMS_PER_ORDER:
                raise RuntimeError(f"{name}: saw {got['orders_seen']} orders, {got['items']} items")
            if got["verdicts"] != {"ok"}:
                raise RuntimeError(f"{name}: sandbox answered {got['verdicts']}")
            note(
                f"{name} (orders/pending): {sum(got['calls'].values())} calls {got['calls']}, "
                f"{got['seconds']:.1f} s under tracemalloc, peak {fmt_bytes(got['peak'])}, "
                f"kept {fmt_bytes(got['kept'])}"
            )
    main_run = runs["20k/5k"]
    minimum = minimum_calls(5_000, main_run["skus"])
    made = sum(main_run["calls"].values())
    least = sum(minimum.values())
    pages = main_run["calls"].get("GetOrders", 0)
    note(
        f"minimum {least} = {minimum}; GetOrders pages fetched: {pages}, the last at Offset "
        f"{main_run['last_page_offset']} ("
        + ("no extra empty page" if pages == minimum["GetOrders"] else "an extra page")
        + ")"
    )
    small, big, double = runs["5k/5k"], main_run, runs["20k/10k"]
    growth = double["peak"] - big["peak"]
    kept_growth = double["kept"] - big["kept"]
    results = [
        Result(
            what="scan 20,000 orders (5,000 pending): API calls vs the minimum",
            project=f"{made} calls",
            baseline=f"{least} calls",
            ratio=made / least,
            target="= 1x (equal)",
            met=made == least,
        ),
        Result(
            what="scan peak memory: 20,000 vs 5,000 orders, 5,000 pending in both",
            project=fmt_bytes(big["peak"]),
            baseline=fmt_bytes(small["peak"]),
            ratio=big["peak"] / small["peak"],
            target=f"<= {MEMORY_TARGET:g}x (no growth)",
            met=big["peak"] <= MEMORY_TARGET * small["peak"],
        ),
        Result(
            what="scan peak memory growth, 10,000 vs 5,000 pending: vs growth of the ids kept",
            project=f"+{fmt_bytes(growth)}",
            baseline=f"+{fmt_bytes(kept_growth)}",
            ratio=growth / kept_growth,
            target=f"<= {MEMORY_TARGET:g}x",
            met=growth <= MEMORY_TARGET * kept_growth,
        ),
    ]
    emit(results)
    return results


def main() -> int:
    return run_standalone("4. Scan", run)


if __name__ == "__main__":
    raise SystemExit(main())
