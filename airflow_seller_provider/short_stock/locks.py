"""One run at a time per connection: a lease per Seller Center connection, so that runs may
overlap (a run waiting for a person's approval holds up no other connection) while no two
runs ever decide or cancel for the same connection at once.

A lease is an Airflow Variable, ``seller_center_short_stock_lease__<conn_id>``, holding
JSON: the run that holds it, since when, whether it waits for an approval, and until when
it holds at the most. A run takes the leases of its connections in ``list_connections``
(which runs one instance at a time across the DAG's runs, ``max_active_tis_per_dag=1``,
so that two runs never take the same lease together), gives back those it is done with
after its cancellations, and the rest when it ends. A lease is free when it is past its
end, or when its run is no longer queued or running (a run marked failed, a killed
deployment): nothing is left locked for good. An operator can free one by deleting the
Variable.

The decisions are pure (``take``, ``LeaseHolder``); reading and writing Variables and
asking Airflow whether a run still runs are given as functions, so they are unit-tested.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

PREFIX = "seller_center_short_stock_lease__"
RUNNING, AWAITING_APPROVAL = "running", "awaiting_approval"
RUN_LEASE = timedelta(hours=2)
"""How long a run holds a connection at the most while it finds and cancels."""
APPROVAL_MARGIN = timedelta(minutes=30)
"""Beyond the approval's timeout, time for the approved cancellations."""


@dataclass(frozen=True, slots=True)
class Lease:
    run_id: str
    dag_id: str
    group_id: str
    state: str
    since: str
    """ISO 8601 UTC: when the run took the connection (or started waiting)."""
    until: str
    """ISO 8601 UTC: after this the lease is free, whatever its run does."""

    def text(self) -> str:
        what = "awaiting approval" if self.state == AWAITING_APPROVAL else "in progress"
        return f"{what} (run {self.run_id} of {self.dag_id}, since {self.since})"


def key(conn_id: str) -> str:
    return PREFIX + conn_id


def parse(value: str | None) -> Lease | None:
    """A stored lease, or None for none or an unreadable one (which nothing can honour)."""
    if not value:
        return None
    try:
        data = json.loads(value)
        return Lease(**{name: str(data[name]) for name in Lease.__dataclass_fields__})
    except (ValueError, TypeError, KeyError):
        return None


def is_held(lease: Lease | None, *, now: datetime, run_active: Callable[[Lease], bool]) -> bool:
    """Whether ``lease`` still holds its connection."""
    if lease is None:
        return False
    try:
        until = datetime.fromisoformat(lease.until)
    except ValueError:
        return False
    return now < until and run_active(lease)


class LeaseStore:
    """The leases of one run, kept in Airflow Variables (``get``/``set``/``delete`` given)."""

    def __init__(
        self,
        *,
        run_id: str,
        dag_id: str,
        group_id: str,
        get: Callable[[str], str | None],
        set_: Callable[[str, str], None],
        delete: Callable[[str], None],
        run_active: Callable[[Lease], bool],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.run_id, self.dag_id, self.group_id = run_id, dag_id, group_id
        self._get, self._set, self._delete = get, set_, delete
        self._run_active = run_active
        self._now = now

    def _lease(self, state: str, lasts: timedelta) -> Lease:
        now = self._now()
        return Lease(
            self.run_id,
            self.dag_id,
            self.group_id,
            state,
            now.isoformat(timespec="seconds"),
            (now + lasts).isoformat(timespec="seconds"),
        )

    def holder(self, conn_id: str) -> Lease | None:
        """Another run's lease on ``conn_id`` that still holds, if any."""
        lease = parse(self._get(key(conn_id)))
        if lease is None or lease.run_id == self.run_id:
            return None
        return lease if is_held(lease, now=self._now(), run_active=self._run_active) else None

    def take(self, conn_ids: Iterable[str]) -> tuple[list[str], dict[str, str]]:
        """The connections this run may serve (their leases now its own), and for each of
        the others why not (another run holds it)."""
        served: list[str] = []
        skipped: dict[str, str] = {}
        for conn_id in conn_ids:
            holder = self.holder(conn_id)
            if holder is not None:
                skipped[conn_id] = holder.text()
                continue
            self._set(key(conn_id), json.dumps(asdict(self._lease(RUNNING, RUN_LEASE))))
            served.append(conn_id)
        return served, skipped

    def awaiting(self, conn_id: str, timeout_minutes: float) -> None:
        """This run now waits for a person on ``conn_id``: hold it until the approval's
        timeout (and the approved cancellations) are over."""
        lasts = timedelta(minutes=timeout_minutes) + APPROVAL_MARGIN
        self._set(key(conn_id), json.dumps(asdict(self._lease(AWAITING_APPROVAL, lasts))))

    def release(self, conn_ids: Iterable[str]) -> list[str]:
        """Give back this run's leases on ``conn_ids`` (never another run's)."""
        released = []
        for conn_id in conn_ids:
            lease = parse(self._get(key(conn_id)))
            if lease is not None and lease.run_id == self.run_id:
                self._delete(key(conn_id))
                released.append(conn_id)
        return released


def airflow_lease_store(context: Any, group_id: str) -> LeaseStore:
    """The running task's LeaseStore, on Airflow's Variables."""
    from airflow_seller_provider.compat import Variable, dag_run_is_active, variable_get

    ti = context["ti"]
    return LeaseStore(
        run_id=str(context["run_id"]),
        dag_id=str(ti.dag_id),
        group_id=group_id,
        get=variable_get,
        set_=lambda name, value: Variable.set(name, value),
        delete=lambda name: Variable.delete(name),
        run_active=lambda lease: dag_run_is_active(ti, lease.dag_id, lease.run_id),
    )
