"""CancelOrderItemOperator: cancel one order item or a batch with SetStatusToCanceled."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from airflow_seller_provider.client.errors import ADVICE, InvalidStateError, SellerCenterError
from airflow_seller_provider.client.protocol import SHORTAGE
from airflow_seller_provider.client.transport import DEFAULT_MAX_CONCURRENCY
from airflow_seller_provider.client.validation import validate_reason, validate_reason_detail
from airflow_seller_provider.compat import AirflowException, AirflowFailException, BaseOperator
from airflow_seller_provider.hooks.seller_center import SellerCenterHook
from airflow_seller_provider.metrics import record_item_outcomes
from airflow_seller_provider.operators.item_lookup import ItemLocator
from airflow_seller_provider.operators.outcomes import (
    DEFERRED,
    CollateralItem,
    Outcome,
    OutcomePayload,
    lookup_outcome,
    outcome_payload,
)
from airflow_seller_provider.operators.targets import Target, parse_targets

if TYPE_CHECKING:
    from airflow_seller_provider.client import SellerCenterClient
    from airflow_seller_provider.client.models import OrderItem

MAX_LOGGED_ROWS = 50


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
    XCom and pushed under the key ``outcome`` even when the task then fails. The counts
    also go to Airflow's metrics, ``seller_center.cancel.items`` tagged with the connection
    and the outcome.
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
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
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
        # Not ``self.dry_run``: that is BaseOperator's method (``airflow tasks test
        # --dry-run`` calls it), which an attribute of that name would hide.
        self.check_only = bool(dry_run)
        self.max_concurrency = max_concurrency
        self.lookup_days = lookup_days

    def execute(self, context: Any) -> OutcomePayload:
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
            "Checking" if self.check_only else "Canceling",
            len(targets),
            reason,
            workers,
            scope,
            " (dry run: nothing is sent)" if self.check_only else "",
        )
        if workers == 1:
            outcomes = [one(t) for t in targets]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="cancel") as pool:
                outcomes = list(pool.map(one, targets))
        collateral: list[CollateralItem] = []
        if not self.check_only:
            outcomes, collateral = self._settle(
                client, locator, targets, outcomes, before, reason, detail, scope
            )
        result = outcome_payload(
            outcomes,
            dry_run=self.check_only,
            collateral=collateral,
            seller_center_conn_id=self.seller_center_conn_id,
        )
        self._log_table(outcomes, result)
        # Before a failure is raised: failed items are counted too (never raises itself).
        record_item_outcomes(self.seller_center_conn_id, result["counts"])
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
    ) -> tuple[list[Outcome], list[CollateralItem]]:
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
        collateral: list[CollateralItem] = [
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
            if self.check_only:
                item = locator.find(target, fresh=False)
                outcome = lookup_outcome(item, target, lost_answer=False)
                if item is not None and item.seller_may_cancel:
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
                return lookup_outcome(item, target, lost_answer=getattr(exc, "lost_answer", False))
        except SellerCenterError as exc:
            return Outcome(
                target.order_item_id,
                "failed",
                exc.code or type(exc).__name__,
                str(exc),
                retryable=exc.retryable,
            )

    def _log_table(self, outcomes: list[Outcome], result: OutcomePayload) -> None:
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
