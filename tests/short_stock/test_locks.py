"""Connection leases: one run at a time per connection, so that runs can overlap while a
person's approval waits; nothing stays locked past its end or its run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow_seller_provider.short_stock.locks import (
    APPROVAL_MARGIN,
    RUN_LEASE,
    LeaseStore,
    key,
    parse,
)

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def store(run_id: str, variables: dict, clock: Clock, active: set[str]) -> LeaseStore:
    return LeaseStore(
        run_id=run_id,
        dag_id="cancel_short_stock_items",
        group_id="short_stock",
        get=variables.get,
        set_=variables.__setitem__,
        delete=variables.pop,
        run_active=lambda lease: lease.run_id in active,
        now=clock,
    )


def test_a_connection_serves_one_run_at_a_time_and_is_given_back():
    variables: dict[str, str] = {}
    clock, active = Clock(), {"run1", "run2"}
    first, second = store("run1", variables, clock, active), store("run2", variables, clock, active)
    assert first.take(["a", "b"]) == (["a", "b"], {})
    served, skipped = second.take(["a", "b", "c"])
    assert served == ["c"]
    assert (
        skipped["a"]
        == skipped["b"]
        == ("in progress (run run1 of cancel_short_stock_items, since 2026-12-06T03:00:00+00:00)")
    )
    assert second.release(["a"]) == []  # never another run's
    assert first.release(["b"]) == ["b"]
    assert second.take(["b"]) == (["b"], {})


def test_a_waiting_approval_holds_its_connection_until_its_timeout():
    variables: dict[str, str] = {}
    clock, active = Clock(), {"run1", "run2"}
    first, second = store("run1", variables, clock, active), store("run2", variables, clock, active)
    first.take(["a", "b"])
    clock.now = T0 + timedelta(minutes=5)
    first.awaiting("a", 60)
    first.release(["b"])  # its cancels are done; a waits for a person
    lease = parse(variables[key("a")])
    assert lease is not None and lease.state == "awaiting_approval"
    assert lease.until == (clock.now + timedelta(minutes=60) + APPROVAL_MARGIN).isoformat()
    clock.now = T0 + timedelta(minutes=35)  # the next scheduled run
    served, skipped = second.take(["a", "b"])
    assert served == ["b"]
    assert skipped["a"].startswith("awaiting approval (run run1 of cancel_short_stock_items")
    clock.now = T0 + timedelta(minutes=5 + 60) + APPROVAL_MARGIN + timedelta(seconds=1)
    assert store("run3", variables, clock, active | {"run3"}).take(["a"])[0] == ["a"]


def test_a_lease_of_a_run_that_no_longer_runs_is_free():
    variables: dict[str, str] = {}
    clock = Clock()
    store("crashed", variables, clock, {"crashed"}).take(["a"])
    # The run was marked failed (or its deployment killed): its lease holds nothing.
    assert store("next", variables, clock, {"next"}).take(["a"]) == (["a"], {})


def test_a_run_lease_ends_by_itself():
    variables: dict[str, str] = {}
    clock, active = Clock(), {"run1", "run2"}
    store("run1", variables, clock, active).take(["a"])
    clock.now = T0 + RUN_LEASE - timedelta(seconds=1)
    assert store("run2", variables, clock, active).take(["a"])[0] == []
    clock.now = T0 + RUN_LEASE
    assert store("run2", variables, clock, active).take(["a"])[0] == ["a"]


def test_an_unreadable_lease_holds_nothing():
    variables = {key("a"): "not json", key("b"): '{"run_id": "x"}'}
    assert store("run1", variables, Clock(), {"run1", "x"}).take(["a", "b"])[0] == ["a", "b"]
    assert parse(None) is None and parse("") is None
