"""Fixtures of the client tests: a mocked transport and a client on fake time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from airflow_seller_provider.client.api import SellerCenterClient
from tests.client.helpers import API_KEY, BASE_URL, USER_ID, FakeTime


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Every HTTP call of the test goes to this mock; an unregistered one fails."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time: FakeTime) -> Iterator[Callable[..., SellerCenterClient]]:
    """``make_client(**overrides)``: a client on fake time (rng 0.5 unless ``rng=``)."""
    made: list[SellerCenterClient] = []

    def make(*, rng: float | None = 0.5, **overrides: Any) -> SellerCenterClient:
        kwargs: dict[str, Any] = {
            "base_url": BASE_URL,
            "user_id": USER_ID,
            "api_key": API_KEY,
            "seller_id": "SELLER1",
            "business_unit": "FACL",
        }
        kwargs.update(overrides)
        client = SellerCenterClient(**kwargs)
        fake_time.install(client, rng=rng)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., SellerCenterClient]) -> SellerCenterClient:
    return make_client()
