"""Dates as the sandbox keeps them: ``YYYY-MM-DD HH:MM:SS`` in UTC.

That fixed-width form sorts as text in time order, so filters compare strings. Answers show
body dates in the order's country's local time, in the same form without an offset
(``local_text``), as Seller Center's older platforms do.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

# Each business unit's country's time zone.
ZONES = {"FACL": "America/Santiago", "FACO": "America/Bogota", "FAPE": "America/Lima"}
_STORED_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def format_utc(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    # Not strftime: it drops the zero padding of years before 1000 on some platforms;
    # isoformat pads, and is C code.
    return moment.isoformat(" ", "seconds")


def now_utc() -> str:
    return format_utc(datetime.now(UTC))


def head_timestamp() -> str:
    """The Head's ``Timestamp``: ``2015-07-01T11:11:11+0000``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_any(value: str) -> str:
    """ISO 8601 (with or without an offset; naive means UTC) or ``YYYY-MM-DD HH:MM:SS`` to the
    stored form. Raises ValueError (also for dates that overflow when moved to UTC)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        return format_utc(moment)
    except (OverflowError, TypeError) as exc:
        raise ValueError(f"unreadable date {value!r}") from exc


@cache
def _zone(business_unit: str) -> ZoneInfo:
    return ZoneInfo(ZONES.get(business_unit.upper(), ZONES["FACL"]))


# Every answer shows each of its dates this way (4 per order, 2 per item), and a scan asks
# for the same orders' dates again and again: a pure function of its two texts, cached.
@lru_cache(maxsize=1 << 16)
def local_text(stored: str, business_unit: str) -> str:
    """A stored UTC date as the business unit's country's local time, without an offset
    (``""`` stays ``""``)."""
    if not stored:
        return stored
    try:
        # fromisoformat is C code, about 10x strptime's speed; the shape check keeps
        # strptime's strictness (the stored form only).
        if not _STORED_FORM.fullmatch(stored):
            return stored
        moment = datetime.fromisoformat(stored).replace(tzinfo=UTC)
        return format_utc(moment.astimezone(_zone(business_unit)).replace(tzinfo=None))
    except (ValueError, OverflowError):
        return stored
