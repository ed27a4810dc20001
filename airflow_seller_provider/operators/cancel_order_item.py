"""CancelOrderItemOperator: cancel one order item or a batch with SetStatusToCanceled."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_seller_provider.client.errors import ADVICE, InvalidStateError, SellerCenterError
from airflow_seller_provider.client.validation import (
    validate_order_id,
    validate_order_item_id,
    validate_reason,
    validate_reason_detail,
)
from airflow_seller_provider.compat import AirflowException, AirflowFailException, BaseOperator
from airflow_seller_provider.hooks.seller_center import SellerCenterHook

if TYPE_CHECKING:
    from airflow_seller_provider.client import SellerCenterClient
    from airflow_seller_provider.client.models import OrderItem

SHORTAGE = "SHORTAGE"
OUTCOMES = ("canceled", "already_canceled", "no_longer_pending", "would_cancel", "failed")
DEFERRED = "deferred"
"""Internal: a package sibling of an item canceled in this task, settled by the re-read."""
MAX_LOGGED_ROWS = 50


@dataclass(frozen=True, slots=True)
class Target:
    order_item_id: int
    order_id: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    order_item_id: int
    outcome: str
    code: str | None = None
    message: str = ""
    retryable: bool = False


def parse_targets(value: Any) -> list[Target]:
    """One id, a list of ids, or ``{"order_item_id": .., "order_id": ..}`` entries.

    Raises ValueError/TypeError naming the bad entry; nothing is sent before this passes.
    """
    if isinstance(value, dict | str | int) or value is None:
        entries: list[Any] = [value]
    elif isinstance(value, Iterable):
        entries = list(value)
    else:
        raise TypeError(
            f"order_item_id {value!r} must be an id, a list of ids, or "
            '{"order_item_id": ..., "order_id": ...} entries'
        )
    if not entries:
        raise ValueError("order_item_id is an empty list: give at least one order item id")
    targets: dict[int, Target] = {}
    for position, entry in enumerate(entries):
        where = f" (entry {position})" if len(entries) > 1 else ""
        try:
            if isinstance(entry, dict):
                unknown = set(entry) - {"order_item_id", "order_id"}
                if unknown or "order_item_id" not in entry:
                    raise ValueError(
                        f"entry {entry!r} must have the keys order_item_id and, optionally, "
                        "order_id"
                    )
                order_id = entry.get("order_id")
                target = Target(
                    validate_order_item_id(entry["order_item_id"]),
                    None if order_id in (None, "") else validate_order_id(order_id),
                )
            else:
                target = Target(validate_order_item_id(entry))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc}{where}") from None
        known = targets.get(target.order_item_id)
        if known is None or (known.order_id is None and target.order_id is not None):
            targets[target.order_item_id] = target
    return list(targets.values())


class ItemLocator:
    """Looks order items up: the API has no "get item by id", only by order.

    With the order id, one GetOrderItems call (or one GetMultipleOrderItems call per 100
    orders when prefetched). Without it, one bounded scan of the orders created in the last
    ``lookup_days`` days, done at most once per task.
    """

    def __init__(self, client: SellerCenterClient, lookup_days: int) -> None:
        self._client = client
        self._lookup_days = lookup_days
        self._items: dict[int, OrderItem] = {}
        self._lock = threading.Lock()
        self._scanned = False

    def prefetch(self, targets: Sequence[Target]) -> None:
        order_ids = sorted({t.order_id for t in targets if t.order_id is not None})
        if order_ids:
            found = self._client.get_multiple_order_items(order_ids)
            with self._lock:
                for items in found.values():
                    self._items.update((i.order_item_id, i) for i in items)

    def cached(self, order_item_id: int) -> OrderItem | None:
        return self._items.get(order_item_id)

    def snapshot(self) -> dict[int, OrderItem]:
        with self._lock:
            return dict(self._items)

    def reread(self, order_ids: Sequence[int]) -> dict[int, OrderItem]:
        """The orders' items as they are now (one GetMultipleOrderItems call per 100)."""
        found = self._client.get_multiple_order_items(sorted(set(order_ids)))
        fresh = {i.order_item_id: i for items in found.values() for i in items}
        with self._lock:
            self._items.update(fresh)
        return fresh

    def find(self, target: Target, *, fresh: bool = True) -> OrderItem | None:
        if not fresh and target.order_item_id in self._items:
            return self._items[target.order_item_id]
        if target.order_id is not None:
            items = self._client.get_order_items(target.order_id)
            with self._lock:
                self._items.update((i.order_item_id, i) for i in items)
            return next((i for i in items if i.order_item_id == target.order_item_id), None)
        with self._lock:
            if not self._scanned:
                self._scan()
                self._scanned = True
            return self._items.get(target.order_item_id)

    def _scan(self) -> None:
        since = datetime.now(UTC) - timedelta(days=self._lookup_days)
        batch: list[int] = []
        for order in self._client.iter_orders(created_after=since):
            batch.append(order.order_id)
            if len(batch) >= 100:
                self._load(batch)
                batch = []
        if batch:
            self._load(batch)

    def _load(self, order_ids: list[int]) -> None:
        for items in self._client.get_multiple_order_items(order_ids).values():
            self._items.update((i.order_item_id, i) for i in items)


def _lookup_outcome(item: OrderItem | None, target: Target, *, lost_answer: bool) -> Outcome:
    """Decide an item's outcome from its current state after an E028 (or for a dry run)."""
    if item is None:
        where = (
            f"in order {target.order_id}"
            if target.order_id is not None
            else "in the orders of the lookup window (pass its order_id to look it up directly)"
        )
        return Outcome(
            target.order_item_id,
            "failed",
            "NOT_VERIFIED",
            f"could not be verified: not found {where}",
        )
    if item.status == "canceled":
        return Outcome(item.order_item_id, "canceled" if lost_answer else "already_canceled")
    if item.status != "pending":
        # Shipped, packed... while we decided: the customer gets it. Not a failure.
        return Outcome(item.order_item_id, "no_longer_pending", item.status)
    why = f"status is {item.status!r}"
    if item.is_fulfillment:
        why += ", and it is shipped by the marketplace (Fulfillment)"
    return Outcome(
        item.order_item_id,
        "failed",
        "E028",
        f"cannot be canceled: {why}; only pending items the seller ships can be canceled",
    )


class CancelOrderItemOperator(BaseOperator):
    """Cancel order items with SetStatusToCanceled, idempotently and within the rate limit.

    :param order_item_id: one id, a list of ids, or ``{"order_item_id": .., "order_id": ..}``
        entries (with the order id an item is verified with one call). Strings of digits are
        accepted, as rendered templates give strings. Templated.
    :param reason: ``SHORTAGE`` or a canceled-type reason from GetFailureReasons. Templated.
    :param reason_detail: optional free text sent with each cancellation. Templated.
    :param seller_center_conn_id: the ``seller_center`` connection. Templated.
    :param dry_run: look every item up and report what would be canceled; cancel nothing.
    :param max_concurrency: items in flight at once; the connection's ``rate_limit`` paces them.
    :param lookup_days: how far back items without an order id are searched for.

    Every item ends ``canceled``, ``already_canceled``, ``no_longer_pending`` (it left
    ``pending`` before its cancel: shipped, packed...; not a failure), ``would_cancel`` or
    ``failed``. After canceling, the orders touched are read again: with the connection's
    ``cancel_scope=package`` a package's first item is sent and its siblings are settled
    from that re-read; an item the API canceled that was not asked for is reported under
    ``collateral_canceled``, with a warning. The outcome (ids and counts) is returned to
    XCom and pushed under the key ``outcome`` even when the task then fails.
    """

    template_fields: Sequence[str] = (
        "order_item_id",
        "reason",
        "reason_detail",
        "seller_center_conn_id",
    )
    ui_color = "#f9d6c4"

    def __init__(
        self,
        *,
        order_item_id: Any,
        reason: str = SHORTAGE,
        reason_detail: str | None = None,
        seller_center_conn_id: str = SellerCenterHook.default_conn_name,
        dry_run: bool = False,
        max_concurrency: int = 8,
        lookup_days: int = 30,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool):
            raise TypeError(f"max_concurrency {max_concurrency!r} must be an integer >= 1")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency {max_concurrency!r} must be >= 1")
        if not isinstance(lookup_days, int) or isinstance(lookup_days, bool) or lookup_days < 1:
            raise ValueError(f"lookup_days {lookup_days!r} must be a positive integer (days)")
        self.order_item_id = order_item_id
        self.reason = reason
        self.reason_detail = reason_detail
        self.seller_center_conn_id = seller_center_conn_id
        self.dry_run = dry_run
        self.max_concurrency = max_concurrency
        self.lookup_days = lookup_days

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            targets = parse_targets(self.order_item_id)
            reason = validate_reason(self.reason)
            detail = validate_reason_detail(self.reason_detail)
        except (TypeError, ValueError) as exc:
            raise AirflowFailException(f"Refused before sending anything: {exc}") from None
        hook = SellerCenterHook(self.seller_center_conn_id)
        client = hook.get_conn()
        scope = hook.cancel_scope()
        self._check_reason(client, reason)
        locator = ItemLocator(client, self.lookup_days)
        # The items' state before anything is sent: items already done are not sent again
        # (a retry tries only what is left), and the re-read after can tell what this task
        # canceled from what was canceled before.
        before = self._prefetch(locator, targets)
        claimed: set[tuple[int, str]] = set()
        claim_lock = threading.Lock()

        def claim(item: OrderItem) -> bool:
            """Package scope: the first item of a package is sent, its siblings wait."""
            if scope != "package" or not item.package_id:
                return True
            with claim_lock:
                key = (item.order_id, item.package_id)
                first = key not in claimed
                claimed.add(key)
                return first

        def one(target: Target) -> Outcome:
            return self._process(client, locator, target, reason, detail, before, claim)

        workers = min(self.max_concurrency, len(targets))
        self.log.info(
            "%s %d order item(s) with reason %r, %d at a time, cancel scope %s%s",
            "Checking" if self.dry_run else "Canceling",
            len(targets),
            reason,
            workers,
            scope,
            " (dry run: nothing is sent)" if self.dry_run else "",
        )
        if workers == 1:
            outcomes = [one(t) for t in targets]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="cancel") as pool:
                outcomes = list(pool.map(one, targets))
        collateral: list[dict[str, Any]] = []
        if not self.dry_run:
            outcomes, collateral = self._settle(
                client, locator, targets, outcomes, before, reason, detail, scope
            )
        result = summarize(outcomes, dry_run=self.dry_run, collateral=collateral)
        self._log_table(outcomes, result)
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key="outcome", value=result)
        self._raise_on_failures(outcomes)
        return result

    def _settle(
        self,
        client: SellerCenterClient,
        locator: ItemLocator,
        targets: list[Target],
        outcomes: list[Outcome],
        before: dict[int, OrderItem],
        reason: str,
        detail: str | None,
        scope: str,
    ) -> tuple[list[Outcome], list[dict[str, Any]]]:
        """Re-read the orders touched: settle package siblings, find collateral cancels."""
        by_id = {t.order_item_id: t for t in targets}
        order_ids = {t.order_id for t in targets if t.order_id is not None}
        # Items given without an order id, found by the lookup scan: their orders too.
        order_ids |= {i.order_id for i in locator.snapshot().values() if i.order_item_id in by_id}
        after: dict[int, OrderItem] = {}
        if order_ids:
            try:
                after = locator.reread(sorted(order_ids))
            except SellerCenterError as exc:
                self.log.warning(
                    "Could not re-read the %d order(s) touched to check what was canceled: %s",
                    len(order_ids),
                    exc,
                )
        settled: list[Outcome] = []
        for outcome in outcomes:
            item_id = outcome.order_item_id
            now, then = after.get(item_id), before.get(item_id)
            if outcome.outcome == DEFERRED:
                if now is not None and now.status == "canceled":
                    outcome = Outcome(item_id, "canceled")
                elif now is not None and now.status != "pending":
                    outcome = Outcome(item_id, "no_longer_pending", now.status)
                else:  # its package's cancel did not take it: send its own
                    outcome = self._process(
                        client, locator, by_id[item_id], reason, detail, {}, lambda _: True
                    )
            elif (
                outcome.outcome == "already_canceled"
                and then is not None
                and then.status == "pending"
            ):
                # Pending before this task, canceled during it: by a sibling's cancel.
                outcome = Outcome(item_id, "canceled")
            settled.append(outcome)
        collateral = [
            {"order_item_id": i.order_item_id, "order_id": i.order_id, "package_id": i.package_id}
            for i in sorted(after.values(), key=lambda i: i.order_item_id)
            if i.status == "canceled"
            and i.order_item_id not in by_id
            and (then := before.get(i.order_item_id)) is not None
            and then.status == "pending"
        ]
        if collateral:
            self.log.warning(
                "%d item(s) the plan did not name were canceled with their package: %s. This "
                "account cancels whole packages: set the connection's extra "
                "cancel_scope=package (now %r) so that the shortage rule plans whole packages.",
                len(collateral),
                ", ".join(str(c["order_item_id"]) for c in collateral[:MAX_LOGGED_ROWS]),
                scope,
            )
        return settled, collateral

    def _check_reason(self, client: SellerCenterClient, reason: str) -> None:
        if reason == SHORTAGE:
            return
        try:
            reasons = client.get_failure_reasons()
        except SellerCenterError as exc:
            self.log.warning("Could not list failure reasons to check %r: %s", reason, exc)
            return
        valid = {r.name for r in reasons if r.type == "canceled"} | {SHORTAGE}
        if reason not in valid:
            raise AirflowFailException(
                f"Refused before sending anything: reason {reason!r} is not a canceled-type "
                f"reason of GetFailureReasons; use one of {sorted(valid)!r}"
            )

    def _prefetch(self, locator: ItemLocator, targets: list[Target]) -> dict[int, OrderItem]:
        try:
            locator.prefetch(targets)
        except SellerCenterError as exc:
            self.log.warning("Could not prefetch item statuses, looking up one by one: %s", exc)
        return locator.snapshot()

    def _process(
        self,
        client: SellerCenterClient,
        locator: ItemLocator,
        target: Target,
        reason: str,
        detail: str | None,
        before: dict[int, OrderItem],
        claim: Callable[[OrderItem], bool],
    ) -> Outcome:
        try:
            if self.dry_run:
                item = locator.find(target, fresh=False)
                outcome = _lookup_outcome(item, target, lost_answer=False)
                if item is not None and item.status == "pending" and not item.is_fulfillment:
                    return Outcome(target.order_item_id, "would_cancel")
                return outcome
            known = before.get(target.order_item_id)
            if known is not None:
                if known.status == "canceled":
                    return Outcome(target.order_item_id, "already_canceled")
                if known.status != "pending":
                    return Outcome(target.order_item_id, "no_longer_pending", known.status)
                if not claim(known):
                    return Outcome(target.order_item_id, DEFERRED)
            try:
                client.cancel_order_item(target.order_item_id, reason, detail)
                return Outcome(target.order_item_id, "canceled")
            except InvalidStateError as exc:
                item = locator.find(target)
                return _lookup_outcome(item, target, lost_answer=getattr(exc, "lost_answer", False))
        except SellerCenterError as exc:
            return Outcome(
                target.order_item_id,
                "failed",
                exc.code or type(exc).__name__,
                str(exc),
                retryable=exc.retryable,
            )

    def _log_table(self, outcomes: list[Outcome], result: dict[str, Any]) -> None:
        rows = (
            outcomes
            if len(outcomes) <= MAX_LOGGED_ROWS
            else [o for o in outcomes if o.outcome == "failed"][:MAX_LOGGED_ROWS]
        )
        if rows:
            lines = [f"{'order_item_id':>14}  {'outcome':<17} detail"]
            lines += [
                f"{o.order_item_id:>14}  {o.outcome:<17} {(o.code or '')} {o.message}".rstrip()
                for o in rows
            ]
            self.log.info("Outcome per item:\n%s", "\n".join(lines))
        self.log.info("Counts: %s", result["counts"])

    def _raise_on_failures(self, outcomes: list[Outcome]) -> None:
        failed = [o for o in outcomes if o.outcome == "failed"]
        if not failed:
            return
        listed = "; ".join(
            f"{o.order_item_id} ({o.code}: {_short(o.message)})" for o in failed[:MAX_LOGGED_ROWS]
        )
        more = f" and {len(failed) - MAX_LOGGED_ROWS} more" if len(failed) > MAX_LOGGED_ROWS else ""
        message = f"{len(failed)} of {len(outcomes)} order item(s) failed: {listed}{more}"
        # Each item's message is shortened above, which can cut its advice (E003's "check
        # the clock"): the advice of each code is given once, in full.
        advice = [ADVICE[code] for code in dict.fromkeys(o.code for o in failed) if code in ADVICE]
        if advice:
            message += ". " + ". ".join(advice)
        if any(o.retryable for o in failed):
            raise AirflowException(f"{message}. A task retry tries only what is left.")
        raise AirflowFailException(f"{message}. Retrying cannot help; see the log per item.")


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summarize(
    outcomes: Sequence[Outcome],
    *,
    dry_run: bool,
    collateral: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The small, JSON-serialisable result that goes to XCom: ids and counts only.

    ``collateral_canceled`` lists items the API canceled that were not asked for (their
    package went with a planned item)."""
    result: dict[str, Any] = {name: [] for name in OUTCOMES}
    for o in outcomes:
        if o.outcome == "failed":
            result["failed"].append(
                {"order_item_id": o.order_item_id, "code": o.code, "message": o.message[:300]}
            )
        else:
            result[o.outcome].append(o.order_item_id)
    result["collateral_canceled"] = [dict(c) for c in collateral]
    result["counts"] = {name: len(result[name]) for name in (*OUTCOMES, "collateral_canceled")}
    result["dry_run"] = dry_run
    return result
