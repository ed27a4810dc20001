"""Injected trouble: seeded faults and a per-user rate limit.

Faults are drawn from their own ``random.Random`` seeded from the sandbox seed, so a run
with the same requests in the same order sees the same faults.
"""

from __future__ import annotations

import math
import random
import threading
import time

# Every kind a fault can take. "lost" (the cancellation is applied, then the connection
# drops) is only drawn for SetStatusToCanceled.
KINDS = ("E429", "E006", "E021", "HTTP_500", "HTTP_502", "HTTP_503", "drop", "delay")
CANCEL_ONLY = ("lost",)
ALL_KINDS = KINDS + CANCEL_ONLY
CANCEL_ACTION = "SetStatusToCanceled"
# Kinds answered without running the request: they never touch the state.
SHORT_CIRCUIT = frozenset(("E429", "E006", "E021", "HTTP_500", "HTTP_502", "HTTP_503", "drop"))

_HTML = (
    "<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head>"
    "<body><center><h1>{code} {reason}</h1></center><hr><center>nginx</center></body></html>\n"
)
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}


def html_page(code: int) -> bytes:
    """The kind of page a gateway in front of the API answers with."""
    return _HTML.format(code=code, reason=_REASONS.get(code, "Error")).encode("utf-8")


class FaultPlan:
    """``rate``: the fraction of requests that fail; ``kinds``: which kinds may be drawn
    (default all), e.g. ``("drop",)`` to test one failure mode alone."""

    def __init__(self, seed: int, rate: float = 0.0, kinds: tuple[str, ...] | None = None) -> None:
        self._rng = random.Random(f"faults:{seed}")
        self._lock = threading.Lock()
        self.rate = rate
        self.kinds = kinds

    @property
    def kinds(self) -> tuple[str, ...]:
        return self._kinds

    @kinds.setter
    def kinds(self, value: tuple[str, ...] | list[str] | None) -> None:
        chosen = tuple(value) if value else ALL_KINDS
        unknown = set(chosen) - set(ALL_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {ALL_KINDS}")
        self._kinds = chosen

    def draw(self, action: str) -> str | None:
        """None (no fault) or the kind of fault for this request."""
        if self.rate <= 0:
            return None
        kinds = [k for k in self._kinds if k not in CANCEL_ONLY or action == CANCEL_ACTION]
        if not kinds:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            return self._rng.choice(kinds)

    def coin(self) -> bool:
        with self._lock:
            return self._rng.random() < 0.5


class RateLimiter:
    """A token bucket per user: ``rate`` requests a second, bursts of up to ``rate``.

    ``rate`` None or <= 0 switches it off."""

    def __init__(self, rate: float | None = None) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self.rate = rate

    @property
    def rate(self) -> float | None:
        return self._rate

    @rate.setter
    def rate(self, value: float | None) -> None:
        self._rate = value if value and value > 0 else None
        with self._lock:
            self._buckets.clear()

    def acquire(self, key: str) -> float | None:
        """None when allowed; else the seconds until a request would be."""
        rate = self._rate
        if rate is None:
            return None
        burst = max(1.0, rate)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate


def retry_after_header(wait: float) -> int:
    """Retry-After carries whole seconds: round up, at least one."""
    return max(1, math.ceil(wait))
