"""Protocol facts live in client/protocol.py and are still found where they used to be."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import airflow_seller_provider.client as client_package
from airflow_seller_provider.client import api, errors, models, protocol, signing, validation


def test_old_homes_re_export_the_same_objects() -> None:
    assert models.BUSINESS_UNITS is api.BUSINESS_UNITS is protocol.BUSINESS_UNITS
    assert api.FORMATS is protocol.FORMATS
    assert models.ORDER_STATUSES is protocol.ORDER_STATUSES
    assert models.ORDER_ITEM_STATUSES is protocol.ORDER_ITEM_STATUSES
    assert models.who_ships is protocol.who_ships
    assert models.combined_shipper is protocol.combined_shipper
    assert models.business_unit_of is protocol.business_unit_of
    assert models.Shipper is protocol.Shipper
    assert validation.INT32_MAX == protocol.INT32_MAX == 2**31 - 1
    assert signing.API_VERSION == protocol.API_VERSION == "1.0"
    assert api.MAX_STOCK_UPDATES == 500 and protocol.MAX_ORDERS_PER_CALL == 100


def test_every_error_kind_is_exported_from_the_package() -> None:
    kinds = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.SellerCenterError)
    }
    assert kinds <= set(client_package.__all__)
    for name in kinds:
        assert getattr(client_package, name) is getattr(errors, name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00+00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 10:00:00", datetime(2024, 5, 1, 10)),
    ],
)
def test_parse_iso(text: str, expected: datetime) -> None:
    assert protocol.parse_iso(text) == expected


def test_parse_iso_refuses_a_non_date() -> None:
    with pytest.raises(ValueError):
        protocol.parse_iso("yesterday")


def test_blank() -> None:
    assert protocol.blank(None) and protocol.blank("  ")
    assert not protocol.blank("x") and not protocol.blank(0)


def test_signature_redaction_pattern() -> None:
    text = "GET /?Action=X&Signature=abc123&Timestamp=1"
    assert protocol.SIGNATURE_IN_TEXT.sub(r"\1[redacted]", text) == (
        "GET /?Action=X&Signature=[redacted]&Timestamp=1"
    )
