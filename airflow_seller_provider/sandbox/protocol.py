"""Checks every API request makes before its action runs, in the API's order:
query parsing (E030, E005), Action (E001), Format (E005), the other common parameters
(E001 naming each), Version (E002), Timestamp format and window (E004, E003), user and
signature (E007); then, once the action is known, E008, method, and role (E009)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from airflow_seller_provider.client.signing import (
    API_VERSION,
    parse_timestamp,
    sign,
    signatures_match,
)
from airflow_seller_provider.sandbox.errors import ApiError, invalid_format, missing
from airflow_seller_provider.sandbox.store import Store, User

TIMESTAMP_WINDOW_S = 300
MAX_PARAMS = 200
FORMATS = ("XML", "JSON")
REQUIRED = ("Timestamp", "Version", "UserID", "Signature")
# Versions besides 1.0 that an action accepts: GetOrders 2.0 (v600 deprecates 1.0 for it).
VERSIONS_BY_ACTION = {"GetOrders": ("2.0",)}


def parse_query(raw: bytes) -> dict[str, str]:
    """Decode a raw query string: ``+`` and ``%20`` are spaces, names and values must be UTF-8
    (E005), no parameter may repeat (E005), and an empty query is E030."""
    if not raw.strip(b"&"):
        raise ApiError(30, "E030: Empty Request")
    try:
        # latin-1 maps bytes to code points one to one, so %XX escapes and raw bytes alike
        # come back as the original bytes, to be decoded strictly as UTF-8 below.
        pairs = parse_qsl(
            raw.decode("latin-1"),
            keep_blank_values=True,
            encoding="latin-1",
            max_num_fields=MAX_PARAMS,
        )
        decoded = [
            (name.encode("latin-1").decode("utf-8"), value.encode("latin-1").decode("utf-8"))
            for name, value in pairs
        ]
    except UnicodeError:
        raise invalid_format("parameters must be UTF-8") from None
    except ValueError:
        raise invalid_format(f"more than {MAX_PARAMS} parameters") from None
    params: dict[str, str] = {}
    for name, value in decoded:
        if name in params:
            raise invalid_format(f"parameter {name[:50]} given more than once")
        params[name] = value
    if not params:
        raise ApiError(30, "E030: Empty Request")
    return params


def response_format(params: dict[str, str]) -> str:
    """The format to answer in, also for errors; unknown formats answer in XML."""
    fmt = params.get("Format", "XML").upper()
    return fmt if fmt in FORMATS else "XML"


def check_common(params: dict[str, str], *, now: datetime | None = None) -> str:
    """Everything up to (not including) the signature; returns the Action."""
    action = params.get("Action", "")
    if not action:
        raise missing("Action")
    if params.get("Format", "XML").upper() not in FORMATS:
        raise invalid_format("Format must be XML or JSON")
    for name in REQUIRED:
        if not params.get(name):
            raise missing(name)
    if params["Version"] != API_VERSION and params["Version"] not in VERSIONS_BY_ACTION.get(
        action, ()
    ):
        raise ApiError(2, "E002: Invalid Version")
    try:
        moment = parse_timestamp(params["Timestamp"])
    except (ValueError, TypeError, OverflowError):
        raise ApiError(4, "E004: Invalid Timestamp format") from None
    try:
        skew = abs(((now or datetime.now(UTC)) - moment).total_seconds())
    except OverflowError:
        skew = float("inf")
    if skew > TIMESTAMP_WINDOW_S:
        raise ApiError(3, "E003: Timestamp has expired")
    return action


def authenticate(params: dict[str, str], store: Store) -> User:
    """E007 for an unknown user and for a wrong signature alike, as the API does."""
    user = store.user(params["UserID"])
    expected = sign(params, user.api_key if user else "\0no user\0")
    if user is None or not signatures_match(expected, params["Signature"]):
        raise ApiError(7, "E007: Login failed. Signature mismatching")
    return user


def check_method(action: str, method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise ApiError(
            5,
            f"E005: Invalid Request Format ({action} must be sent with {' or '.join(allowed)})",
            http_status=405,
            headers={"Allow": ", ".join(allowed)},
        )


def check_role(user: User, writes: bool) -> None:
    if writes and user.role != "admin":
        raise ApiError(9, "E009: Access Denied")


def check_known(action: str, known: Callable[[str], bool]) -> None:
    if not known(action):
        raise ApiError(8, "E008: Invalid Action")
