"""Small stand-ins shared by the tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import BaseServer
from typing import Any


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
