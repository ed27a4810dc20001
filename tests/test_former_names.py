"""Renamed names stay importable, with a DeprecationWarning that names the new one."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    ("module", "former", "new"),
    [
        ("airflow_seller_provider.client.transport", "RateLimiter", "Pacer"),
        ("airflow_seller_provider.shortage", "PendingItem", "ScannedItem"),
        (
            "airflow_seller_provider.hooks.seller_center",
            "SellerCenterConnectionError",
            "ConnectionConfigError",
        ),
    ],
)
def test_a_former_name_warns_and_is_the_new_object(module, former, new):
    mod = importlib.import_module(module)
    with pytest.warns(
        DeprecationWarning, match=f"{module}.{former} is deprecated: use {module}.{new}"
    ):
        value = getattr(mod, former)
    assert value is getattr(mod, new)


def test_an_unknown_name_is_still_an_attribute_error():
    mod = importlib.import_module("airflow_seller_provider.shortage")
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        mod.NoSuchName  # noqa: B018
