"""Lowering Seller Center's stock to what the warehouse has (``correct_stock="lower"``).

Seller Center exposes only its *sellable* figure (GetStock's ``Quantity``: the declared
quantity less the units reserved by pending orders); ``UpdateStock`` sets the *declared*
quantity. For one (business unit, SKU) the run scanned:

- ``on_hand`` (W): the warehouse's units, including those pending orders wait for (an
  ``on_hand`` source's figure; a ``sellable`` source's figure plus the queued items);
- ``reserved`` (r): pending items holding a unit now; ``remaining``: those left once the
  run's short items are canceled;
- the target: after the cancels Seller Center may sell what the warehouse can still ship,
  ``target_sellable = max(0, W - remaining)``, so the declared quantity to set is
  ``target = target_sellable + remaining``;
- the current declared quantity is ``sellable + reserved``. A figure of exactly 0 hides it
  (an API that clamps shows 0 for anything at or below 0): at most ``reserved``. When that
  bound is above the target the entry is ``deferred`` and judged again after the cancels,
  when the reservations left are ``remaining`` (never above the target).

A figure is only ever lowered; raising stock is the seller's stock sync's job. The plan
(``plan_corrections``) is pure; ``apply_corrections`` reads the current figure before
setting anything, so a retry sets nothing twice.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    from airflow_seller_provider.client.api import SellerCenterClient
    from airflow_seller_provider.client.models import WarehouseStock
    from airflow_seller_provider.short_stock.rule import ShortageDecision

log = logging.getLogger(__name__)

CORRECT_OFF, CORRECT_LOWER = "off", "lower"
CORRECT_STOCK = (CORRECT_OFF, CORRECT_LOWER)
MAX_STOCK_CORRECTIONS = 200
"""The safety brake's default: corrections one connection may make without approval."""

# What the plan decided for an entry.
LOWER, UNCHANGED, DEFERRED, SKIPPED = "lower", "unchanged", "deferred", "skipped"
# How an entry ended.
LOWERED, WOULD_LOWER, FAILED = "lowered", "would_lower", "failed"
OUTCOMES = (LOWERED, UNCHANGED, SKIPPED, FAILED, WOULD_LOWER)
BEFORE, AFTER = "before", "after"
"""The two moments a correction is applied: before the cancels, and after them for the
``deferred`` entries."""

# Why an entry is skipped.
NOT_LISTED = "not_listed"
SEVERAL_WAREHOUSES = "several_warehouses"
UNKNOWN_UNIT = "unknown_unit"
HIDDEN = "figure_hidden"
SKIPPED_SAMPLE = 100
"""Skipped entries a payload lists one by one (all are counted)."""


class StockCorrection(TypedDict):
    business_unit: str
    sku: str
    warehouse: dict[str, str]
    """How UpdateStock names the warehouse: ``{"SellerWarehouseId": ...}``,
    ``{"GSCFacilityId": ...}``, or ``{}`` (the main warehouse)."""
    on_hand: int
    reserved: int
    remaining: int
    sellable: int | None
    """Seller Center's figure when the plan read it; None when it is not listed."""
    declared: int | None
    """``sellable + reserved``; None when a figure of 0 hides it."""
    target: int
    target_sellable: int
    status: str
    why: NotRequired[str]


class CorrectionOutcome(TypedDict):
    business_unit: str
    sku: str
    warehouse: dict[str, str]
    outcome: str
    """``lowered``, ``unchanged``, ``skipped``, ``failed`` or ``would_lower`` (dry run)."""
    from_quantity: int | None
    """The declared quantity before, when known."""
    to_quantity: int | None
    """The declared quantity set (or that a dry run would set)."""
    why: NotRequired[str]
    error_code: NotRequired[str | None]


class CorrectionPlan(TypedDict):
    """The find step's corrections for one connection."""

    entries: list[StockCorrection]
    """To act on: ``lower`` and ``deferred``."""
    counts: dict[str, dict[str, int]]
    """Per business unit, how many entries the plan left ``unchanged`` or ``skipped``."""
    skipped: list[StockCorrection]
    """The skipped entries, at most ``SKIPPED_SAMPLE``."""


def judge(sellable: int, reserved: int, target: int) -> tuple[str, int | None]:
    """(``lower``, ``unchanged`` or ``deferred``; the declared quantity when known)."""
    if sellable != 0:
        declared = sellable + reserved
        return (LOWER if declared > target else UNCHANGED), declared
    # 0 may be a clamped negative: the declared quantity is at most the reservations.
    return (UNCHANGED if reserved <= target else DEFERRED), None


def warehouse_label(warehouse: Mapping[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in warehouse.items()) or "main warehouse"


def _choose_row(
    rows: Sequence[WarehouseStock],
    unit: str,
    *,
    named: str | None,
    default_unit: str | None,
) -> tuple[WarehouseStock | None, str, str]:
    """(the row of the warehouse to correct, or None; reason code; why) for ``unit``."""
    if named:
        chosen = [r for r in rows if r.seller_warehouse_id == named]
        if not chosen:
            return None, NOT_LISTED, f"not listed in seller warehouse {named} (extra warehouses)"
        return chosen[0], "", ""
    # GetStock names a warehouse's unit as OperatorCode; an answer without it is taken as the
    # User-Agent's business unit (the connection's), the country the call is made for.
    in_unit = [r for r in rows if (r.operator_code.upper() or (default_unit or "")) == unit]
    if not in_unit:
        if rows and not default_unit and not any(r.operator_code for r in rows):
            return None, UNKNOWN_UNIT, "GetStock does not say which unit its warehouses serve"
        return None, NOT_LISTED, f"Seller Center does not list this SKU in a {unit} warehouse"
    if len(in_unit) > 1:
        ids = ", ".join(r.seller_warehouse_id or r.facility_id or "?" for r in in_unit)
        return (
            None,
            SEVERAL_WAREHOUSES,
            f"{len(in_unit)} seller warehouses in {unit} ({ids}): name the one to correct in "
            f'the connection\'s extra warehouses, {{"{unit}": "<SellerWarehouseId>"}}',
        )
    return in_unit[0], "", ""


def _naming(row: WarehouseStock) -> dict[str, str]:
    if row.seller_warehouse_id:
        return {"SellerWarehouseId": row.seller_warehouse_id}
    if row.facility_id:
        return {"GSCFacilityId": row.facility_id}
    return {}


def plan_corrections(
    decision: ShortageDecision,
    rows: Iterable[WarehouseStock],
    *,
    warehouses: Mapping[str, str] | None = None,
    default_unit: str | None = None,
) -> CorrectionPlan:
    """What to lower, for every (unit, SKU) the rule had a warehouse figure for.

    ``rows`` are GetStock's answers for those SKUs; ``warehouses`` the connection's extra
    (unit -> SellerWarehouseId) naming which warehouse to correct where a unit has several;
    ``default_unit`` the connection's business unit (its User-Agent's).
    """
    by_sku: dict[str, list[WarehouseStock]] = defaultdict(list)
    for row in rows:
        by_sku[row.seller_sku].append(row)
    short = Counter((i.business_unit or "", i.sku) for i in decision.short)
    named = {k.upper(): v for k, v in (warehouses or {}).items()}
    entries: list[StockCorrection] = []
    skipped: list[StockCorrection] = []
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for (unit, sku), on_hand in sorted(decision.on_hand.items()):
        reserved = decision.queued.get((unit, sku), 0)
        remaining = reserved - short[(unit, sku)]
        target_sellable = max(0, on_hand - remaining)
        entry: StockCorrection = {
            "business_unit": unit,
            "sku": sku,
            "warehouse": {},
            "on_hand": on_hand,
            "reserved": reserved,
            "remaining": remaining,
            "sellable": None,
            "declared": None,
            "target": target_sellable + remaining,
            "target_sellable": target_sellable,
            "status": SKIPPED,
        }
        chosen, code, why = _choose_row(
            by_sku.get(sku, []), unit, named=named.get(unit), default_unit=default_unit
        )
        if chosen is None:
            entry["why"] = f"{code}: {why}"
            counts[unit][SKIPPED] += 1
            if len(skipped) < SKIPPED_SAMPLE:
                skipped.append(entry)
            continue
        entry["warehouse"] = _naming(chosen)
        entry["sellable"] = chosen.quantity
        entry["status"], entry["declared"] = judge(chosen.quantity, reserved, entry["target"])
        if entry["status"] == UNCHANGED:
            counts[unit][UNCHANGED] += 1
        else:
            entries.append(entry)
    return {
        "entries": entries,
        "counts": {unit: dict(c) for unit, c in sorted(counts.items())},
        "skipped": skipped,
    }


def still_needed(
    approved: Iterable[StockCorrection], now: Iterable[StockCorrection]
) -> list[StockCorrection]:
    """The corrections of a fresh plan (``now``) for the (unit, SKU)s a person approved:
    an approval never lowers a figure it did not show, and always works from fresh
    figures."""
    keys = {(e["business_unit"], e["sku"]) for e in approved}
    return [e for e in now if (e["business_unit"], e["sku"]) in keys]


def read_rows(client: SellerCenterClient, skus: Iterable[str]) -> list[WarehouseStock]:
    """GetStock's rows for ``skus`` (the client batches them)."""
    wanted = sorted(set(skus))
    return list(client.iter_warehouse_stock(wanted)) if wanted else []


def _outcome(entry: StockCorrection, outcome: str, **extra: Any) -> CorrectionOutcome:
    result: CorrectionOutcome = {
        "business_unit": entry["business_unit"],
        "sku": entry["sku"],
        "warehouse": dict(entry["warehouse"]),
        "outcome": outcome,
        "from_quantity": extra.pop("from_quantity", entry["declared"]),
        "to_quantity": extra.pop("to_quantity", None),
    }
    result.update(extra)  # type: ignore[typeddict-item]
    return result


def skipped_outcomes(entries: Iterable[StockCorrection]) -> list[CorrectionOutcome]:
    return [_outcome(e, SKIPPED, why=e.get("why", "")) for e in entries]


def failed_outcomes(entries: Iterable[StockCorrection], why: str) -> list[CorrectionOutcome]:
    return [_outcome(e, FAILED, why=why, error_code=None) for e in entries]


def apply_corrections(
    client: SellerCenterClient,
    entries: Sequence[StockCorrection],
    *,
    phase: str,
    dry_run: bool,
) -> tuple[list[CorrectionOutcome], list[StockCorrection]]:
    """Read each entry's current figure, and lower those still above their target with
    UpdateStock (at most 500 SKUs a call, one call per warehouse).

    ``phase`` ``before`` (the cancels) judges with the reservations now; ``after`` with those
    left. Returns (the outcomes; the entries deferred to the ``after`` phase). A failed call
    fails its entries (with the code) and the others go on.
    """
    from airflow_seller_provider.client.errors import SellerCenterError
    from airflow_seller_provider.client.protocol import MAX_STOCK_UPDATES

    wanted = [e for e in entries if e["status"] in (LOWER, DEFERRED)]
    if phase == AFTER:
        wanted = [e for e in wanted if e["status"] == DEFERRED]
    outcomes: list[CorrectionOutcome] = []
    deferred: list[StockCorrection] = []
    if not wanted:
        return outcomes, deferred
    try:
        rows = read_rows(client, [e["sku"] for e in wanted])
    except SellerCenterError as exc:
        why = f"GetStock failed: {exc}"
        return [_outcome(e, FAILED, why=why, error_code=exc.code) for e in wanted], deferred
    current = {(r.seller_sku, tuple(sorted(_naming(r).items()))): r.quantity for r in rows}
    to_set: dict[tuple[tuple[str, str], ...], list[tuple[StockCorrection, int | None]]] = (
        defaultdict(list)
    )
    for entry in wanted:
        where = tuple(sorted(entry["warehouse"].items()))
        sellable = current.get((entry["sku"], where))
        if sellable is None:
            outcomes.append(
                _outcome(entry, SKIPPED, why=f"{NOT_LISTED}: GetStock no longer lists it")
            )
            continue
        reserved = entry["reserved"] if phase == BEFORE else entry["remaining"]
        status, declared = judge(sellable, reserved, entry["target"])
        if status == UNCHANGED:
            outcomes.append(_outcome(entry, UNCHANGED, from_quantity=declared))
        elif status == DEFERRED:
            if dry_run:
                outcomes.append(
                    _outcome(
                        entry,
                        SKIPPED,
                        why=f"{HIDDEN}: Seller Center reads 0, so its quantity is known only "
                        "after the cancels, which a dry run does not make",
                    )
                )
            else:
                deferred.append(entry)
        elif dry_run:
            outcomes.append(
                _outcome(entry, WOULD_LOWER, from_quantity=declared, to_quantity=entry["target"])
            )
        else:
            to_set[where].append((entry, declared))
    for where, batch in to_set.items():
        for start in range(0, len(batch), MAX_STOCK_UPDATES):
            chunk = batch[start : start + MAX_STOCK_UPDATES]
            try:
                client.update_stock({e["sku"]: e["target"] for e, _ in chunk}, **dict(where))
            except SellerCenterError as exc:
                log.warning("UpdateStock of %d SKU(s) failed: %s", len(chunk), exc)
                outcomes += [
                    _outcome(e, FAILED, from_quantity=d, why=str(exc), error_code=exc.code)
                    for e, d in chunk
                ]
                continue
            outcomes += [
                _outcome(e, LOWERED, from_quantity=d, to_quantity=e["target"]) for e, d in chunk
            ]
    return outcomes, deferred


def outcome_counts(outcomes: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per business unit, how many corrections ended each way."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for o in outcomes:
        counts[str(o["business_unit"])][str(o["outcome"])] += 1
    return {unit: dict(c) for unit, c in sorted(counts.items())}
