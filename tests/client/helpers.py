"""Builders of Seller Center answers and small test doubles shared by the client tests."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BASE_URL = "https://sellercenter.test/"
USER_ID = "look@me.com"
# The documented test key: if it ever shows up in a message or a log line, a test fails.
API_KEY = "b1bdb357ced10fe4e9a69840cdd4f0e9c03d77fe"

HERE = Path(__file__).resolve().parent
LOCAL_SAMPLES = HERE / "samples"
SHARED_SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "samples"

HEAD = (
    "<Head><RequestId/><RequestAction>{action}</RequestAction>"
    "<ResponseType>{kind}</ResponseType><Timestamp>2024-05-01T12:00:00+0000</Timestamp>"
    "{extra}</Head>"
)


def xml_ok(body: str = "", action: str = "GetOrders", kind: str = "", extra: str = "") -> str:
    """A SuccessResponse with ``body`` inside ``<Body>`` (empty: ``<Body/>``)."""
    head = HEAD.format(action=action, kind=kind, extra=extra)
    inner = f"<Body>{body}</Body>" if body else "<Body/>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<SuccessResponse>{head}{inner}</SuccessResponse>'
    )


def xml_error(code: int | str, message: str, action: str = "GetOrders", body: str = "") -> str:
    inner = f"<Body>{body}</Body>" if body else "<Body/>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Head>'
        f"<RequestAction>{action}</RequestAction><ErrorType>Sender</ErrorType>"
        f"<ErrorCode>{code}</ErrorCode><ErrorMessage>{message}</ErrorMessage></Head>"
        f"{inner}</ErrorResponse>"
    )


def json_ok(body: Any = "", action: str = "GetOrders", **head: str) -> str:
    return json.dumps(
        {
            "SuccessResponse": {
                "Head": {"RequestId": "", "RequestAction": action, **head},
                "Body": body,
            }
        }
    )


def json_error(code: str, message: str, action: str = "GetOrders") -> str:
    return json.dumps(
        {
            "ErrorResponse": {
                "Head": {
                    "RequestAction": action,
                    "ErrorType": "Sender",
                    "ErrorCode": code,
                    "ErrorMessage": message,
                },
                "Body": "",
            }
        }
    )


def order_item_xml(item_id: int, order_id: int, sku: str = "SKU-1", status: str = "pending") -> str:
    return (
        f"<OrderItem><OrderItemId>{item_id}</OrderItemId><OrderId>{order_id}</OrderId>"
        f"<Sku>{sku}</Sku><Status>{status}</Status><ShippingType>Dropshipping</ShippingType>"
        "<Reason/><CreatedAt>2024-05-01 10:00:00</CreatedAt>"
        "<UpdatedAt>2024-05-01 11:00:00</UpdatedAt></OrderItem>"
    )


def order_xml(order_id: int) -> str:
    return (
        f"<Order><OrderId>{order_id}</OrderId><OrderNumber>N{order_id}</OrderNumber>"
        "<CreatedAt>2024-05-01 10:00:00</CreatedAt><UpdatedAt>2024-05-01 10:00:00</UpdatedAt>"
        "<Price>10.00</Price><ItemsCount>1</ItemsCount>"
        "<Statuses><Status>pending</Status></Statuses></Order>"
    )


def query_of(url: str) -> dict[str, str]:
    """The decoded query of a sent URL (no '+' is ever sent, so either decoding agrees)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True))


def raw_query(url: str) -> str:
    return urlsplit(url).query


class FakeTime:
    """Injected clock and sleep: sleeping advances the clock, nothing really waits.

    ``utc_now`` also moves one second per call, so two attempts never share a Timestamp
    unless the client reused one.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.start = start
        self.sleeps: list[float] = []
        self.utc_calls = 0
        self._lock = threading.Lock()
        self.utc_start = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def utc_now(self) -> datetime:
        with self._lock:
            self.utc_calls += 1
            return self.utc_start + timedelta(seconds=self.utc_calls + self.now - self.start)

    def install(self, client: Any, *, rng: float | None = 0.5) -> None:
        transport = client.transport
        transport.clock = self.clock
        transport.sleep = self.sleep
        transport.utc_now = self.utc_now
        if rng is not None:
            transport.rng = lambda: rng
