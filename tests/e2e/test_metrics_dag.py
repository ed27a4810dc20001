"""The provider's metrics from a real DAG run: `airflow dags test` with `[metrics] statsd_on`,
Airflow's own StatsD client, and a UDP listener on 127.0.0.1 that the test owns.

Every count is checked against what the sandbox saw, not against the provider's own figures:
calls and retries per action and outcome against its request log, throttles against its
E429s, canceled items against its cancellations, short items per unit against the shortage
worked out from its data (``expected_short``). No assertion is about time.

``statsd_influxdb_enabled`` makes Airflow's StatsD client send the tags too
(``name,tag=value:1|c``), so both forms are checked: the tagged name and the legacy name.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_seller_provider import metrics
from airflow_seller_provider.sandbox.testing import run_sandbox

from .helpers import drop_declared_stock, expected_short, newly_canceled, run_dag, save_log

pytestmark = pytest.mark.slow

PREFIX = "airflow."
CONN_ID = "seller_center_default"
# The sandbox's verdict for a request -> the outcome the client reports for it.
OUTCOME_OF_VERDICT = {"drop": "transport_error"}
STOP = b"__stop__"


@dataclass(frozen=True)
class Sample:
    name: str
    tags: tuple[tuple[str, str], ...]
    value: float
    kind: str

    def tag(self, key: str) -> str:
        return dict(self.tags)[key]


class StatsdListener:
    """A UDP socket on 127.0.0.1 that keeps every datagram until ``stop()``.

    Loopback UDP is delivered when it is sent, in order: once the DAG's process has exited,
    everything it sent is queued before the stop datagram this test sends itself."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            data = self.sock.recv(65535)
            if data == STOP:
                return
            self.datagrams.append(data)

    def stop(self) -> list[Sample]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            out.sendto(STOP, ("127.0.0.1", self.port))
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the listener never saw its stop datagram"
        self.sock.close()
        return [parse(line) for data in self.datagrams for line in data.decode().splitlines()]


LINE = re.compile(r"(?P<name>[^,:]+)(?P<tags>(?:,[^,=:]+=[^,:]*)*):(?P<value>[^|]+)\|(?P<kind>\w+)")


def parse(line: str) -> Sample:
    """``name[,k=v...]:value|type`` (StatsD with InfluxDB-style tags)."""
    match = LINE.fullmatch(line.strip())
    assert match, f"not a StatsD line: {line!r}"
    pairs = [pair.split("=", 1) for pair in match["tags"].split(",") if pair]
    tags = tuple((key, value) for key, value in pairs)
    return Sample(match["name"], tags, float(match["value"]), match["kind"])


@pytest.fixture
def statsd(monkeypatch) -> StatsdListener:
    listener = StatsdListener()
    for key, value in {
        "STATSD_ON": "True",
        "STATSD_HOST": "127.0.0.1",
        "STATSD_PORT": str(listener.port),
        "STATSD_PREFIX": "airflow",
        "STATSD_INFLUXDB_ENABLED": "True",
    }.items():
        monkeypatch.setenv(f"AIRFLOW__METRICS__{key}", value)
    yield listener
    if listener._thread.is_alive():
        listener.stop()


def ours(samples: list[Sample]) -> list[Sample]:
    found = [s for s in samples if s.name.startswith(PREFIX + "seller_center.")]
    return [Sample(s.name[len(PREFIX) :], s.tags, s.value, s.kind) for s in found]


def tagged(samples: list[Sample], name: str, *keys: str) -> Counter[tuple[str, ...]]:
    """Totals of a tagged metric by the given tags (for a timer: how many samples)."""
    total: Counter[tuple[str, ...]] = Counter()
    for s in samples:
        if s.name == name:
            total[tuple(s.tag(k) for k in keys)] += 1 if s.kind == "ms" else int(s.value)
    return total


def check_legacy_names(samples: list[Sample]) -> None:
    """Every tagged sample has its legacy twin (tag values in the name, same value), and no
    more."""
    expected: Counter[tuple[str, str, float]] = Counter()
    for s in samples:
        if s.name in metrics.METRICS:
            tags = dict(s.tags)
            assert set(tags) == set(metrics.METRICS[s.name].tags), s
            expected[(metrics.legacy_name(s.name, tags), s.kind, s.value)] += 1
    legacy = Counter((s.name, s.kind, s.value) for s in samples if s.name not in metrics.METRICS)
    assert legacy == expected
    assert all(not s.tags for s in samples if s.name not in metrics.METRICS)


def dag_records_plan_metrics() -> bool:
    """Whether the example DAG's steps call ``record_short_items`` and ``record_brake_trip``
    (in the DAG file or the package's step modules)."""
    repo = Path(__file__).resolve().parents[2]
    sources = [*repo.glob("dags/*.py"), *repo.glob("airflow_seller_provider/*.py")]
    text = "".join(p.read_text() for p in sources if p.name != "metrics.py")
    return "record_short_items(" in text and "record_brake_trip(" in text


def for_conn(samples: list[Sample], conn_id: str) -> list[Sample]:
    return [s for s in samples if s.tags and s.tag("conn_id") == conn_id]


def test_one_run_over_three_connections_sends_each_ones_own(airflow_db, statsd):
    # sc_busy: a sandbox that throttles (10 requests/s; the connection does not pace itself)
    # and fails some requests (E006, HTTP 503 gateway pages, dropped connections), every one
    # retried (max_retries 20). sc_calm: another seller's sandbox, no trouble. sc_badkey:
    # sc_busy's sandbox with an unknown user: its scan's first call fails (E007), alone.
    with (
        run_sandbox(
            seed=3,
            orders=150,
            rate_limit=10,
            fault_rate=0.08,
            fault_kinds=("E006", "HTTP_503", "drop"),
            negative_stock="show",  # short items on Seller Center's own stock
        ) as busy,
        run_sandbox(seed=11, orders=60, negative_stock="show") as calm,
    ):
        sandboxes = {"sc_busy": busy, "sc_calm": calm}
        before = {conn: sb.state() for conn, sb in sandboxes.items()}
        predicted = {
            conn: expected_short(before[conn], sb.user_id) for conn, sb in sandboxes.items()
        }
        assert all(predicted.values())
        badkey = json.loads(busy.airflow_conn_json({"max_retries": 20}))
        badkey.update(login="nobody@example.com", password="not-a-key")
        code, log = run_dag(
            busy.airflow_conn_json(),
            settings={
                "seller_center_conn_ids": ["sc_busy", "sc_calm", "sc_badkey"],
                "require_approval": "never",
            },
            connections={
                "sc_busy": busy.airflow_conn_json({"max_retries": 20}),
                "sc_calm": calm.airflow_conn_json(),
                "sc_badkey": json.dumps(badkey),
            },
        )
        samples = statsd.stop()
        save_log(log, "metrics-dag")
        assert code != 0, "the connection with a bad key must fail the run, at its end"
        after = {conn: sb.state() for conn, sb in sandboxes.items()}
        cancellations = {conn: sb.cancellation_counts() for conn, sb in sandboxes.items()}
        busy_log = busy.requests_log()
        requests = {
            "sc_busy": [r for r in busy_log if r["user_id"] == busy.user_id],
            "sc_badkey": [r for r in busy_log if r["user_id"] == "nobody@example.com"],
            "sc_calm": calm.requests_log(),
        }

    raw = "\n".join(d.decode() for d in statsd.datagrams)
    for secret in (busy.api_key, calm.api_key, "not-a-key", "Signature"):
        assert secret not in raw
    # Airflow's own metrics came the same way: it is Airflow's StatsD client at work.
    assert any(s.name == PREFIX + "ti.finish" for s in samples)
    mine = ours(samples)
    check_legacy_names(mine)
    assert {s.tag("conn_id") for s in mine if s.tags} == set(requests)

    for conn, seen_requests in requests.items():
        got = for_conn(mine, conn)
        # API calls: each request the sandbox saw is either retried or ends its call.
        seen = Counter(
            (r["action"], OUTCOME_OF_VERDICT.get(r["verdict"], r["verdict"])) for r in seen_requests
        )
        calls = tagged(got, metrics.API_CALLS, "action", "outcome")
        retries = tagged(got, metrics.API_RETRIES, "action", "outcome")
        assert calls + retries == seen, conn
        throttled = Counter((r["action"],) for r in seen_requests if r["verdict"] == "E429")
        assert tagged(got, metrics.API_THROTTLES, "action") == throttled, conn
        # One duration per call, in milliseconds.
        durations = [s for s in got if s.name == metrics.API_DURATION]
        assert {s.kind for s in durations} == {"ms"} and all(s.value >= 0 for s in durations)
        per_action: Counter[tuple[str, ...]] = Counter()
        for (action, _), n in calls.items():
            per_action[(action,)] += n
        assert tagged(got, metrics.API_DURATION, "action") == per_action, conn

        if conn == "sc_badkey":
            # One call, refused: nothing retried, nothing found, nothing canceled.
            assert sum(calls.values()) == 1 and next(iter(calls))[1] == "E007"
            assert not retries and not tagged(got, metrics.CANCEL_ITEMS, "outcome")
            assert not tagged(got, metrics.SHORT_ITEMS, "business_unit")
            continue
        assert calls == Counter({key: n for key, n in seen.items() if key[1] == "ok"}), conn
        if conn == "sc_busy":
            assert sum(retries.values()) > 0 and sum(throttled.values()) > 0
        else:
            assert not retries and not throttled

        # Items: the sandbox's cancellations, each applied once, all counted as canceled.
        canceled = newly_canceled(before[conn], after[conn])
        assert canceled == predicted[conn], conn
        assert {i: cancellations[conn].get(i) for i in canceled} == dict.fromkeys(canceled, 1)
        assert tagged(got, metrics.CANCEL_ITEMS, "outcome") == Counter(
            {("canceled",): len(canceled)}
        ), conn

        if dag_records_plan_metrics():
            # Short items per business unit: the orders' own units (OperatorCode).
            unit_of = {
                item["order_item_id"]: str(order.get("operator_code") or "").upper()
                for order in before[conn]["orders"]
                for item in order["items"]
            }
            by_unit = Counter((unit_of[i],) for i in predicted[conn])
            assert tagged(got, metrics.SHORT_ITEMS, "business_unit") == by_unit, conn
            assert not tagged(got, metrics.BRAKE_TRIPS, "limit"), conn


@pytest.mark.skipif(
    not dag_records_plan_metrics(), reason="the example DAG does not send brake trips yet"
)
def test_a_brake_trip_is_counted(airflow_db, statsd):
    with run_sandbox(seed=5, orders=120, negative_stock="show") as sandbox:
        drop_declared_stock(sandbox)
        # never: fail at the brake (on_brake would ask a person on Airflow 3.1+).
        code, log = run_dag(sandbox.airflow_conn_json(), settings={"require_approval": "never"})
        samples = statsd.stop()
        assert code != 0 and "Safety brake" in log, save_log(log, "metrics-brake")
        assert not any(sandbox.cancellation_counts().values())
    mine = ours(samples)
    check_legacy_names(mine)
    # Each limit the run's brake message names, counted once (for this one connection).
    named = set(re.findall(r"exceed (max_cancellations|max_cancel_fraction)=", log))
    assert "max_cancel_fraction" in named
    trips = tagged(mine, metrics.BRAKE_TRIPS, "conn_id", "limit")
    assert trips == Counter({(CONN_ID, limit): 1 for limit in named})
    assert not tagged(mine, metrics.CANCEL_ITEMS, "outcome")
    assert sum(tagged(mine, metrics.SHORT_ITEMS, "business_unit").values()) > 0


def test_the_parser_reads_what_airflow_sends():
    assert parse("airflow.seller_center.api.calls,conn_id=c,action=GetOrders,outcome=ok:1|c") == (
        Sample(
            "airflow.seller_center.api.calls",
            (("conn_id", "c"), ("action", "GetOrders"), ("outcome", "ok")),
            1.0,
            "c",
        )
    )
    assert parse("airflow.seller_center.api.duration.c.GetOrders:12.5|ms").kind == "ms"
