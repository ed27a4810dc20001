"""Fixtures of the sandbox tests: the project's own fixture, and a client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_seller_provider.sandbox.testing import (  # noqa: F401 (fixture and hook)
    Sandbox,
    pytest_configure,
    run_sandbox,
    seller_center_sandbox,
)

from .helpers import Client


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    """One sandbox for read-only tests of a module (faster than one per test)."""
    with run_sandbox(seed=7, orders=120) as sandbox:
        yield sandbox


@pytest.fixture
def client(seller_center_sandbox: Sandbox) -> Client:  # noqa: F811 (the fixture)
    return Client(
        seller_center_sandbox.url, seller_center_sandbox.user_id, seller_center_sandbox.api_key
    )


@pytest.fixture
def reader(shared_sandbox: Sandbox) -> Client:
    return Client(shared_sandbox.url, shared_sandbox.user_id, shared_sandbox.api_key)
