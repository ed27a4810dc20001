"""What the distributed tests do with a started Stack: the warehouse's figures, triggering
and waiting for runs, reading their summary, and checking the sandbox's ledger."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..e2e.helpers import DAG_ID, expected_short, items_by_id, main_seller_id
from .stack import Stack, wait_for

USER_ID = "distributed@example.com"
SELLER_ID = "SBX100"


def warehouse_rows(state: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The warehouse's on-hand figures per (SKU, business unit): the sandbox's declared
    quantity, one unit fewer for every third SKU (more items short than Seller Center's
    own figures say), and the last SKU left out (a SKU the warehouse does not know: never
    canceled)."""
    seller = main_seller_id(state, USER_ID)
    products = sorted(
        (p for p in state["products"] if p["seller_id"] == seller), key=lambda p: p["seller_sku"]
    )
    rows = []
    for n, product in enumerate(products[:-1]):
        for unit, quantity in sorted(product["quantity"].items()):
            rows.append((product["seller_sku"], unit, max(0, int(quantity) - (n % 3 == 0))))
    return rows


def figures_of(rows: list[tuple[str, str, int]]) -> dict[tuple[str | None, str], int]:
    return {(unit, sku): units for sku, unit, units in rows}


def run_conf(batch_size: int, **extra: Any) -> dict[str, Any]:
    """A run's conf: run settings only (the stock source is the deployment's)."""
    return {"batch_size": batch_size, **extra}


def predict(state: dict[str, Any], rows: list[tuple[str, str, int]]) -> set[int]:
    """The items a run must cancel (tests/e2e/helpers.py's independent oracle)."""
    return expected_short(state, USER_ID, figures_of(rows), counts="on_hand")


def wait_parsed(stack: Stack) -> float:
    """Wait until the dag-processor has listed the DAG; unpause it; seconds it took."""

    def parsed() -> bool:
        stack.check_alive()
        return any(d["dag_id"] == DAG_ID for d in stack.api("GET", "/dags")["dags"])

    wait_for(f"{DAG_ID} parsed", parsed, 120, every=1)
    took = time.monotonic() - stack.started
    stack.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    return took


def trigger(stack: Stack, conf: dict[str, Any]) -> str:
    run = stack.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": conf})
    return run["dag_run_id"]


def run_state(stack: Stack, run_id: str) -> dict[str, Any]:
    return stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")


def wait_run(stack: Stack, run_id: str, timeout: float, *, check_alive: bool = True) -> dict:
    def finished() -> dict[str, Any] | None:
        if check_alive:
            stack.check_alive()
        now = run_state(stack, run_id)
        return now if now["state"] in ("success", "failed") else None

    return wait_for(f"run {run_id} finished", finished, timeout, every=1)


def task_instances(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    tis = stack.api(
        "GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
    )["task_instances"]
    (stack.logs / f"task_instances-{run_id.replace(':', '_')}.json").write_text(
        json.dumps(tis, indent=1)
    )
    return tis


def summary_of(stack: Stack, run_id: str) -> dict[str, Any]:
    value = stack.api(
        "GET",
        f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/short_stock.summarize/xcomEntries/summary",
        params={"deserialize": True},
    )["value"]
    return value if isinstance(value, dict) else json.loads(value)


def counts_only(summary: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in summary.items() if isinstance(v, int) and not isinstance(v, bool)}


def cancellations(stack: Stack) -> dict[int, int]:
    return {int(k): v for k, v in stack.sandbox("cancellations").items()}


def canceled_since(before: dict[str, Any], after: dict[str, Any]) -> tuple[set[int], set[int]]:
    """(items newly canceled, items changed at all) between two sandbox states."""
    old, new = items_by_id(before), items_by_id(after)
    changed = {i for i in new if new[i] != old[i]}
    canceled = {i for i in new if new[i]["status"] == "canceled" and old[i]["status"] != "canceled"}
    return canceled, changed


def summary_ids(summary: dict[str, Any], key: str) -> set[int] | None:
    ids = summary.get("ids")
    return set(ids[key]) if isinstance(ids, dict) and key in ids else None


def retries_taken(tis: list[dict[str, Any]]) -> dict[str, int]:
    """Task (``task[map_index]``) -> retries beyond the first try, for those that took any."""
    out = {}
    for t in tis:
        if (t.get("try_number") or 1) > 1:
            name = t["task_id"] + (f"[{t['map_index']}]" if t["map_index"] >= 0 else "")
            out[name] = t["try_number"] - 1
    return out


def per_item(counts: dict[int, int]) -> str:
    """'43 items x 1' style: how many items were applied how many times."""
    histogram = Counter(counts.values())
    return ", ".join(f"{n} item(s) x {times}" for times, n in sorted(histogram.items())) or "none"


@dataclass
class Ledger:
    """The sandbox before a scenario and the items it must end with canceled."""

    before: dict[str, Any]
    predicted: set[int]

    def check(self, stack: Stack) -> dict[int, int]:
        """Every predicted item canceled exactly once (the sandbox's own count), with reason
        SHORTAGE, and nothing else touched."""
        after = stack.sandbox("state")
        canceled, changed = canceled_since(self.before, after)
        counts = cancellations(stack)
        missing, extra = self.predicted - canceled, canceled - self.predicted
        assert canceled == self.predicted, f"missing {sorted(missing)}, extra {sorted(extra)}"
        assert changed == self.predicted, f"touched: {sorted(changed - self.predicted)}"
        new = items_by_id(after)
        assert {new[i]["reason"] for i in self.predicted} == {"SHORTAGE"}
        twice = {i: n for i, n in counts.items() if n != 1}
        assert not twice, f"applied more than once: {twice}"
        assert set(counts) == self.predicted
        return counts


def check_summary(summary: dict[str, Any], short: set[int], canceled_in_sandbox: set[int]) -> None:
    """The summary of a successful run equals the sandbox: its short items are the run's
    prediction, each reported canceled (by this run) or already canceled (by an earlier
    attempt), every one of them canceled in the sandbox, none failed."""
    assert summary["short"] == len(short), counts_only(summary)
    assert summary["failed"] == 0, summary.get("failures")
    assert summary["canceled"] + summary["already_canceled"] == len(short), counts_only(summary)
    done = summary_ids(summary, "canceled")
    already = summary_ids(summary, "already_canceled")
    if done is not None and already is not None:
        assert done | already == short
        assert done | already <= canceled_in_sandbox
        assert not done & already


def seller_of(state: dict[str, Any]) -> str:
    return main_seller_id(state, USER_ID)


def check_books(stack: Stack, counts: dict[int, int]) -> dict[str, int]:
    """The ledger agrees with the sandbox (``counts``: its cancellations per item): every
    item canceled has exactly one ``canceled`` row, no row claims a cancel the sandbox did
    not make, and no row is left ``planned``. Returns the rows per outcome."""
    rows = stack.ledger_rows()
    claimed: dict[int, int] = {}
    for row in rows:
        if row["outcome"] == "canceled":
            claimed[row["order_item_id"]] = claimed.get(row["order_item_id"], 0) + 1
    missing, extra = set(counts) - set(claimed), set(claimed) - set(counts)
    assert not missing and not extra, (
        f"canceled in the sandbox but not in the books: {sorted(missing)}; claimed but not "
        f"canceled: {sorted(extra)}; their rows: "
        f"{[r for r in rows if r['order_item_id'] in missing | extra]}"
    )
    assert all(n == 1 for n in claimed.values()), {i: n for i, n in claimed.items() if n != 1}
    planned = [r for r in rows if r["outcome"] == "planned"]
    assert not planned, f"planned rows left: {planned[:5]}"
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
    return outcomes
