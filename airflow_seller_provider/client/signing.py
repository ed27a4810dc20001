"""Request signing: RFC 3986 canonical query string and HMAC-SHA256.

Shared by the client (to sign) and the sandbox (to check), as the protocol is.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from airflow_seller_provider.client.protocol import API_VERSION, parse_iso

__all__ = [
    "API_VERSION",
    "canonical_query",
    "parse_timestamp",
    "percent_encode",
    "sign",
    "sign_query",
    "signatures_match",
    "utc_timestamp",
]


def percent_encode(value: str) -> str:
    """RFC 3986: only ``A-Z a-z 0-9 - . _ ~`` stay; every other UTF-8 byte becomes ``%XX``."""
    return quote(value, safe="-._~", encoding="utf-8", errors="strict")


def canonical_query(params: Mapping[str, str]) -> str:
    """Every parameter but ``Signature``, sorted by name in byte order, encoded and joined."""
    items = sorted(
        ((name, value) for name, value in params.items() if name != "Signature"),
        key=lambda item: item[0].encode("utf-8"),
    )
    return "&".join(f"{percent_encode(name)}={percent_encode(value)}" for name, value in items)


def sign(params: Mapping[str, str], api_key: str) -> str:
    """Lower-case hex HMAC-SHA256 of the canonical query string, keyed with the API key."""
    return sign_query(canonical_query(params), api_key)


def sign_query(query: str, api_key: str) -> str:
    """``sign`` for a canonical query string already built (the client sends that string)."""
    return hmac.new(api_key.encode("utf-8"), query.encode("utf-8"), hashlib.sha256).hexdigest()


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison, for the server side."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "replace"))


def utc_timestamp(now: datetime | None = None) -> str:
    """ISO 8601 with an explicit offset, e.g. ``2015-07-01T11:11:11+00:00``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(microsecond=0).isoformat()


def parse_timestamp(value: str) -> datetime:
    """Parse a request ``Timestamp``; it must carry an explicit offset (ValueError if not)."""
    moment = parse_iso(value.strip())
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return moment
