"""Run the sandbox inside a test: ``run_sandbox()`` and the ``seller_center_sandbox`` fixture.

    pytest_plugins = ["airflow_seller_provider.sandbox.testing"]

    def test_cancel(seller_center_sandbox, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_SELLER_CENTER_DEFAULT",
                           seller_center_sandbox.airflow_conn_json())
        ...
        assert seller_center_sandbox.cancellation_counts() == {123: 1}

Options for the fixture come from a marker: ``@pytest.mark.seller_center_sandbox(orders=20)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from airflow_seller_provider.sandbox.seed import seed_state
from airflow_seller_provider.sandbox.server import _UNSET, SandboxServer
from airflow_seller_provider.sandbox.store import DEFAULT_NEGATIVE_STOCK, Store

__all__ = ["Sandbox", "run_sandbox", "seller_center_sandbox"]


class Sandbox:
    """A running sandbox: its address, its credentials, and its state for assertions."""

    def __init__(self, server: SandboxServer, user_id: str, api_key: str) -> None:
        self.server = server
        self.user_id = user_id
        self.api_key = api_key

    def __repr__(self) -> str:  # the API key stays out of reprs and logs
        return f"Sandbox(url={self.url!r}, user_id={self.user_id!r})"

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def seller_id(self) -> str:
        user = self.server.store.user(self.user_id)
        return user.seller_id if user else self.server.store.main_seller_id()

    @property
    def business_unit(self) -> str:
        return self.server.store.seller(self.seller_id)["business_unit"]

    @property
    def business_units(self) -> list[str]:
        """The units the seller sells in (``["FACL", "FACO", "FAPE"]``)."""
        return self.server.store.seller(self.seller_id)["business_units"]

    @property
    def negative_stock(self) -> str:
        """``"clamp"`` (default) or ``"show"``: how a stock below zero is reported (settable)."""
        return self.server.store.negative_stock

    @negative_stock.setter
    def negative_stock(self, value: str) -> None:
        self.server.store.negative_stock = value

    @property
    def cancel_scope(self) -> str:
        """``"item"`` or ``"package"``: what SetStatusToCanceled cancels (settable)."""
        return self.server.store.cancel_scope

    @cancel_scope.setter
    def cancel_scope(self, value: str) -> None:
        self.server.store.cancel_scope = value

    def set_ready_to_ship(self, order_item_ids: list[int]) -> None:
        """Move pending items to ``ready_to_ship``, as the seller's packing does: a
        seller-shipped item's unit leaves its reservation and the declared quantity. All or
        none; ValueError for an unknown item or one that is not pending."""
        self.server.store.set_ready_to_ship([int(i) for i in order_item_ids])

    def stock(self, seller_sku: str, seller_id: str | None = None) -> dict[str, int]:
        """What GetProducts reports for a SKU per business unit (``{}``: no such product)."""
        owner = seller_id or self.seller_id
        for product in self.state()["products"]:
            if product["seller_id"] == owner and product["seller_sku"] == seller_sku:
                return product["stock"]
        return {}

    def state(self) -> dict[str, Any]:
        """A deep copy of the whole state (JSON-serialisable)."""
        return self.server.store.snapshot()

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace the whole state; this sandbox's user keeps logging in."""
        self.server.load_state(state)

    def requests_log(self) -> list[dict[str, Any]]:
        """API requests so far: action, method, user_id, verdict ("ok", "E028", "HTTP_503",
        "drop", "delay", "lost"...), http_status, fault, result, params, time."""
        return self.server.requests_log()

    def clear_requests_log(self) -> None:
        self.server.clear_requests_log()

    def before_action(self, hook: Any) -> None:
        """Tests: ``hook(action, params)`` runs before each checked API request (None: off),
        e.g. to move orders out of ``pending`` in the middle of a scan."""
        self.server.before_action = hook

    def cancellation_counts(self) -> dict[int, int]:
        """order_item_id -> how many times a cancellation was applied to it."""
        return self.server.store.cancellation_counts()

    def add_user(
        self, user_id: str, api_key: str, role: str = "read_only", seller_id: str | None = None
    ) -> None:
        """Add an API user (``role`` "admin" or "read_only"; default seller: this one's)."""
        self.server.store.put_user(
            user_id, api_key, role=role, seller_id=seller_id or self.seller_id
        )

    def set_faults(
        self,
        *,
        fault_rate: float | None = None,
        rate_limit: float | None = _UNSET,
        latency_ms: float | None = None,
        fault_delay_s: float | None = None,
        fault_kinds: tuple[str, ...] | list[str] | None = _UNSET,
    ) -> None:
        """Change faults while running; ``rate_limit=None`` switches the limit off,
        ``fault_kinds=None`` allows every kind (see ``faults.ALL_KINDS``)."""
        self.server.set_faults(
            fault_rate=fault_rate,
            rate_limit=rate_limit,
            latency_ms=latency_ms,
            fault_delay_s=fault_delay_s,
            fault_kinds=fault_kinds,
        )

    def connection_extra(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"seller_id": self.seller_id, "business_unit": self.business_unit, **(extra or {})}

    def airflow_conn_json(self, extra: dict[str, Any] | None = None) -> str:
        """The value of an ``AIRFLOW_CONN_<ID>`` variable for a connection to this sandbox."""
        return json.dumps(
            {
                "conn_type": "seller_center",
                "host": self.url,
                "login": self.user_id,
                "password": self.api_key,
                "extra": self.connection_extra(extra),
            }
        )

    def connection_uri(self, extra: dict[str, Any] | None = None) -> str:
        """The same connection in Airflow's URI form (the base URL is the quoted host)."""
        query = urlencode({k: str(v) for k, v in self.connection_extra(extra).items()})
        return (
            f"seller-center://{quote(self.user_id, safe='')}:{quote(self.api_key, safe='')}"
            f"@{quote(self.url, safe='')}/?{query}"
        )


@contextmanager
def run_sandbox(
    *,
    user_id: str = "sandbox@example.com",
    api_key: str = "sandbox-api-key",
    seed: int = 1,
    orders: int = 200,
    latency_ms: float = 0,
    rate_limit: float | None = None,
    fault_rate: float = 0.0,
    fault_delay_s: float = 40.0,
    fault_kinds: tuple[str, ...] | list[str] | None = None,
    state: dict[str, Any] | str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    business_unit: str = "FACL",
    business_units: tuple[str, ...] | list[str] | None = None,
    negative_stock: str = DEFAULT_NEGATIVE_STOCK,
    cancel_scope: str = "item",
) -> Iterator[Sandbox]:
    """Serve a sandbox on a free port from a thread; stop it on exit.

    ``state``: None seeds from ``seed``/``orders``; a dict is loaded as is; a path is loaded
    if the file exists (else seeded) and the final state is saved there on exit.
    ``business_unit``: the seller's default unit; ``business_units``: the units it sells in
    (default all three); ``negative_stock``: ``"clamp"`` (default: no Stock below zero, as
    the official SDK expects) or ``"show"`` (for tests of the rule's sellable path);
    ``cancel_scope``: ``"item"`` or ``"package"``."""
    path = None
    if state is None or isinstance(state, str | os.PathLike):
        path = Path(state) if state is not None else None
        if path is not None and path.exists():
            initial = Store.read_file(path)
        else:
            initial = seed_state(
                user_id=user_id,
                api_key=api_key,
                seed=seed,
                orders=orders,
                business_unit=business_unit,
                business_units=business_units,
            )
    else:
        initial = state
    store = Store(initial, negative_stock=negative_stock, cancel_scope=cancel_scope)
    server = SandboxServer(
        store,
        host=host,
        port=0,
        seed=seed,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        fault_rate=fault_rate,
        fault_delay_s=fault_delay_s,
        fault_kinds=tuple(fault_kinds) if fault_kinds else None,
        primary_user=(user_id, api_key),
    ).start()
    try:
        yield Sandbox(server, user_id, api_key)
    finally:
        server.stop()
        if path is not None:
            store.save(path)


try:  # the fixture exists only where pytest does
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]  # the module name stands for "no pytest"

if pytest is not None:

    def pytest_configure(config: Any) -> None:
        config.addinivalue_line(
            "markers", "seller_center_sandbox(**options): run_sandbox() options for the fixture"
        )

    @pytest.fixture
    def seller_center_sandbox(request: Any) -> Iterator[Sandbox]:
        """A fresh sandbox per test; options from ``@pytest.mark.seller_center_sandbox``."""
        marker = request.node.get_closest_marker("seller_center_sandbox")
        options = dict(marker.kwargs) if marker else {}
        with run_sandbox(**options) as sandbox:
            yield sandbox
