"""Injected faults, latency and the rate limit."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from airflow_seller_provider.sandbox.faults import CANCEL_ONLY, KINDS
from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import Client, items_by_id, pick_items

FAST = {"fault_delay_s": 0.05}


def exercise(sandbox, reads: int = 60, cancels: int = 60) -> list[tuple[str, int | str]]:
    """Alternate reads and cancels of distinct pending items; what the client saw, in order."""
    client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
    targets = pick_items(sandbox.state(), sandbox.seller_id)[:cancels]
    seen: list[tuple[str, int | str]] = []
    for index in range(max(reads, cancels)):
        for kind in ("read", "cancel"):
            if (kind == "read" and index >= reads) or (kind == "cancel" and index >= len(targets)):
                continue
            try:
                if kind == "read":
                    reply = client.call("GetFailureReasons")
                else:
                    reply = client.cancel(targets[index]["order_item_id"])
                seen.append((kind, reply.code or reply.status))
            except requests.ConnectionError:
                client.session.close()
                seen.append((kind, "dropped"))
    return seen


def test_every_kind_of_fault_appears_and_none_corrupts_the_state():
    with run_sandbox(seed=3, orders=200, fault_rate=1.0, **FAST) as sandbox:
        before = sandbox.state()
        exercise(sandbox)
        log = sandbox.requests_log()
        after = sandbox.state()
        counts = sandbox.cancellation_counts()
    verdicts = {entry["verdict"] for entry in log}
    assert verdicts == set(KINDS) | set(CANCEL_ONLY)
    assert all(entry["fault"] == entry["verdict"] for entry in log)

    # Only "lost" and "delay" run the cancellation; every other fault leaves it undone.
    applied = {
        int(e["params"]["OrderItemId"])
        for e in log
        if e["action"] == "SetStatusToCanceled" and e["verdict"] in ("lost", "delay")
    }
    assert any(e["verdict"] == "lost" for e in log)
    assert counts == dict.fromkeys(applied, 1)
    old, new = items_by_id(before), items_by_id(after)
    for item_id, (_, item) in new.items():
        if item_id in applied:
            assert item["status"] == "canceled" and old[item_id][1]["status"] == "pending"
        else:
            assert item == old[item_id][1]


def test_fault_answers_look_like_the_real_failures():
    with run_sandbox(seed=3, fault_rate=1.0, **FAST) as sandbox:
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
        replies = {}
        for _ in range(80):
            try:
                reply = client.call("GetFailureReasons")
            except requests.ConnectionError:
                client.session.close()
                continue
            replies.setdefault(reply.code or reply.status, []).append(reply)
    for code in (500, 502, 503):
        (page, *_) = replies[code]
        assert page.headers["Content-Type"].startswith("text/html") and b"<html>" in page.content
    e006 = replies["E006"][0]
    assert e006.status == 500 and e006.head["ErrorType"] == "Platform"
    e021 = replies["E021"][0]
    assert e021.status == 200 and e021.message == "E021: OMS Api Error Occurred"
    statuses = {r.status for r in replies["E429"]}
    assert statuses == {400, 429}
    assert all(r.headers.get("Retry-After") == "1" for r in replies["E429"] if r.status == 429)
    assert "delay" not in replies  # a delayed answer is still a normal answer
    assert replies[None][0].ok if None in replies else True


def test_faults_repeat_with_the_same_seed():
    runs = []
    for _ in range(2):
        with run_sandbox(seed=11, orders=60, fault_rate=0.5, **FAST) as sandbox:
            exercise(sandbox, reads=25, cancels=25)
            runs.append([(e["action"], e["verdict"]) for e in sandbox.requests_log()])
    assert runs[0] == runs[1]
    assert {v for _, v in runs[0]} > {"ok"}


def test_inspection_endpoints_are_never_faulted():
    with run_sandbox(fault_rate=1.0, latency_ms=500, rate_limit=1) as sandbox:
        started = time.monotonic()
        for _ in range(10):
            for path in ("health", "state", "requests", "cancellations"):
                assert requests.get(f"{sandbox.url}_sandbox/{path}", timeout=5).status_code == 200
        assert time.monotonic() - started < 2
        assert sandbox.requests_log() == []


def test_latency_is_added_and_overlaps_between_clients():
    with run_sandbox(latency_ms=200, orders=10) as sandbox:
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
        started = time.monotonic()
        assert client.call("GetFailureReasons").ok
        assert time.monotonic() - started >= 0.2

        def one(_: int) -> bool:
            return (
                Client(sandbox.url, sandbox.user_id, sandbox.api_key).call("GetFailureReasons").ok
            )

        started = time.monotonic()
        with ThreadPoolExecutor(5) as pool:
            assert all(pool.map(one, range(5)))
        assert time.monotonic() - started < 0.6  # 5 x 200 ms served side by side


def test_rate_limit_per_user_with_retry_after():
    with run_sandbox(rate_limit=5, orders=10) as sandbox:
        sandbox.add_user("second@example.com", "second-key", role="admin")
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
        other = Client(sandbox.url, "second@example.com", "second-key")
        replies = [client.call("GetFailureReasons") for _ in range(12)]
        codes = [r.code for r in replies]
        assert codes[:5] == [None] * 5
        assert codes.count("E429") >= 6
        limited = next(r for r in replies if r.code == "E429")
        assert limited.status == 429 and limited.headers["Retry-After"] == "1"
        assert limited.message == "E429: Too many requests"
        assert other.call("GetFailureReasons").ok  # each user has a budget of their own
        time.sleep(0.25)
        assert client.call("GetFailureReasons").ok  # a token came back
        assert "E429" in {e["verdict"] for e in sandbox.requests_log()}

        sandbox.set_faults(rate_limit=None)
        assert all(client.call("GetFailureReasons").ok for _ in range(20))


def test_sustained_rate_under_the_limit_is_never_throttled():
    with run_sandbox(rate_limit=40, orders=10) as sandbox:
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
        for _ in range(30):
            assert client.call("GetFailureReasons").ok
            time.sleep(1 / 40)


def test_faults_can_change_at_run_time():
    with run_sandbox(orders=10, **FAST) as sandbox:
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
        assert client.call("GetFailureReasons").ok
        sandbox.set_faults(fault_rate=1.0)
        verdicts = set()
        for _ in range(10):
            try:
                client.call("GetFailureReasons")
            except requests.ConnectionError:
                client.session.close()
        verdicts = {e["verdict"] for e in sandbox.requests_log()[1:]}
        assert "ok" not in verdicts
        sandbox.set_faults(fault_rate=0.0)
        assert client.call("GetFailureReasons").ok


def test_a_delayed_answer_outlives_a_client_timeout_but_is_applied():
    with run_sandbox(fault_rate=1.0, fault_kinds=["delay"], fault_delay_s=1.0) as sandbox:
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
        target = pick_items(sandbox.state(), sandbox.seller_id)[0]["order_item_id"]
        params = client.signed(
            client.params("SetStatusToCanceled", OrderItemId=target, Reason="SHORTAGE")
        )
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            client.session.post(client.url, params=params, timeout=0.3)
        assert time.monotonic() - started < 0.9
        assert sandbox.cancellation_counts() == {target: 1}


def test_fault_kinds_can_be_chosen():
    with run_sandbox(fault_rate=1.0, fault_kinds=["lost"], **FAST) as sandbox:
        client = Client(sandbox.url, sandbox.user_id, sandbox.api_key)
        assert client.call("GetFailureReasons").ok  # "lost" only concerns cancellations
        target = pick_items(sandbox.state(), sandbox.seller_id)[0]["order_item_id"]
        with pytest.raises(requests.ConnectionError):
            client.cancel(target)
        assert sandbox.cancellation_counts() == {target: 1}
        assert sandbox.requests_log()[-1]["verdict"] == "lost"
        sandbox.set_faults(fault_kinds=["E021"])
        assert Client(sandbox.url, sandbox.user_id, sandbox.api_key).cancel(target).code == "E021"
        with pytest.raises(ValueError):
            sandbox.set_faults(fault_kinds=["meteor"])
