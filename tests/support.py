"""Small stand-ins shared by the tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import BaseServer
from typing import Any

from airflow_seller_provider.short_stock.find import ScanResult, found_payload
from airflow_seller_provider.short_stock.payloads import FoundPayload


class FakeTI:
    """A task instance as the operator uses it: ``try_number`` and ``xcom_push``.

    Pushed values go through JSON, as XCom's would: a value that is not JSON-serialisable
    fails the test.
    """

    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = json.loads(json.dumps(value))


@contextmanager
def serving(server: BaseServer) -> Iterator[BaseServer]:
    """Serve ``server`` from a daemon thread for the ``with`` block, then close it."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def sandbox_client(sandbox: Any, **options: Any) -> Any:
    """A SellerCenterClient for a running sandbox (pages of 40 orders unless told)."""
    from airflow_seller_provider.client.api import SellerCenterClient

    return SellerCenterClient(
        sandbox.url,
        sandbox.user_id,
        sandbox.api_key,
        seller_id=sandbox.seller_id,
        business_unit=sandbox.business_unit,
        **{"page_size": 40, **options},
    )


# The plan step's inputs, for tests of cancel_plan and run_summary.
PLAN_PARAMS = {
    "seller_center_conn_id": "seller_center_default",
    "seller_center_conn_ids": None,
    "require_approval": "on_brake",
    "approval_timeout_minutes": 120,
    "max_cancellations": 500,
    "max_cancel_fraction": 0.5,
    "fraction_min_items": 20,
    "dry_run": False,
    "reason_detail": "Out of stock",
    "max_concurrency": 4,
    "batch_size": 2,
}


def found_for(conn_id: str, short: int, pending: int = 100) -> FoundPayload:
    payload = found_payload(ScanResult(), "item", conn_id)
    payload["short"] = [{"order_item_id": 1000 + i, "order_id": 10 + i} for i in range(short)]
    payload["pending"] = pending
    payload["short_by_unit"] = {"FACL": short} if short else {}
    payload["top_skus"] = [
        {
            "business_unit": "FACL",
            "sku": "SKU|1",
            "pending": pending,
            "stock": -short,
            "short": short,
        }
    ]
    return payload
