"""SellerCenterError: kinds by code, messages, the transport's attributes, pickling."""

from __future__ import annotations

import pickle

import pytest

from airflow_seller_provider.client.errors import (
    ADVICE,
    AuthenticationError,
    ClockSkewError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    ResponseError,
    SellerCenterError,
    ServerError,
    ThrottlingError,
    TransportError,
    error_for_code,
    normalize_code,
)


@pytest.mark.parametrize(
    ("raw", "code"),
    [(28, "E028"), ("28", "E028"), ("E028", "E028"), ("e3", "E003"), (" 429 ", "E429")],
)
def test_normalize_code(raw, code) -> None:
    assert normalize_code(raw) == code


def test_normalize_code_blank() -> None:
    assert normalize_code(None) is None and normalize_code("  ") is None


@pytest.mark.parametrize(
    ("code", "kind", "retryable"),
    [
        ("E003", ClockSkewError, False),
        ("E006", ServerError, True),
        ("E007", AuthenticationError, False),
        ("E009", AuthenticationError, False),
        ("E010", AuthenticationError, False),
        ("E016", NotFoundError, False),
        ("E020", NotFoundError, False),
        ("E021", ServerError, True),
        ("E022", InvalidRequestError, False),
        ("E028", InvalidStateError, False),
        ("E119", ServerError, True),
        ("E429", ThrottlingError, True),
        ("E001", InvalidRequestError, False),
        ("E999", InvalidRequestError, False),
    ],
)
def test_kind_by_code(code, kind, retryable) -> None:
    error = error_for_code(code, f"{code}: text", action="SetStatusToCanceled")
    assert type(error) is kind
    assert error.retryable is retryable
    text = str(error)
    assert text.startswith("SetStatusToCanceled: ")
    assert code in text
    if code in ADVICE:
        assert ADVICE[code] in text


def test_transport_kinds() -> None:
    assert TransportError("x").retryable
    assert not ResponseError("x").retryable
    assert not TransportError("x", retryable=False).retryable
    assert issubclass(ClockSkewError, InvalidRequestError)


def test_new_attributes_default_and_survive_pickling() -> None:
    error = InvalidStateError("E028: no", code="E028", action="SetStatusToCanceled")
    assert (error.attempts, error.lost_answer) == (1, False)
    error.attempts, error.lost_answer = 3, True
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is InvalidStateError
    assert (copy.attempts, copy.lost_answer, copy.code, copy.action) == (
        3,
        True,
        "E028",
        "SetStatusToCanceled",
    )
    assert str(copy) == str(error)


def test_http_code_is_not_repeated() -> None:
    error = TransportError("HTTP 502 with an HTML page", code="HTTP_502", action="GetOrders")
    assert str(error) == "GetOrders: HTTP 502 with an HTML page"
    assert "HTTP_502" in repr(error)


def test_plain_error_without_code() -> None:
    error = SellerCenterError("something odd", action="GetOrders")
    assert str(error) == "GetOrders: something odd"
    assert not error.retryable
