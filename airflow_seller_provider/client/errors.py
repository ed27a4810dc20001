"""SellerCenterError and its kinds, keyed by the API's error codes.

Every error says which call failed, with which code, and what to do about it.
"""

from __future__ import annotations

from typing import Any


class SellerCenterError(Exception):
    """An error answer of the API, or a fault on the way to it.

    ``code`` is the API's code in ``E0NN`` form (``"E028"``), ``"HTTP_503"`` for a bare HTTP
    failure, or None for a fault with no answer (timeout, dropped connection, unreadable body).

    The transport sets ``attempts`` (requests made for the call, this one included) and
    ``lost_answer``: True when some attempt of the call failed in a way that means the server
    may have applied it (a dropped connection, a timeout or a 5xx on a POST), so a caller
    that sees, say, E028 after a lost cancel should look the item up before calling it a
    failure.
    """

    retryable: bool = False
    attempts: int = 1
    lost_answer: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        action: str | None = None,
        http_status: int | None = None,
        details: list[dict[str, str]] | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.action = action
        self.http_status = http_status
        self.details = details or []
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.action}: " if self.action else ""
        # "HTTP_502" is not repeated in front of a message that says "HTTP 502" already.
        shown = self.code and not self.message.startswith(self.code)
        if shown and self.code.startswith("HTTP_"):
            shown = f"HTTP {self.code[5:]}" not in self.message
        code = f"{self.code} " if shown else ""
        advice = ADVICE.get(self.code or "", "")
        text = f"{where}{code}{self.message}"
        return f"{text}. {advice}" if advice and advice not in text else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, action={self.action!r}, "
            f"retryable={self.retryable!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the error picklable (multiprocessing, Airflow's task runner).
        return (
            _rebuild,
            (
                type(self),
                self.message,
                {
                    "code": self.code,
                    "action": self.action,
                    "http_status": self.http_status,
                    "details": self.details,
                    "retry_after": self.retry_after,
                    "retryable": self.retryable,
                },
            ),
            {"attempts": self.attempts, "lost_answer": self.lost_answer},
        )


def _rebuild(cls: type[SellerCenterError], message: str, kwargs: dict) -> SellerCenterError:
    return cls(message, **kwargs)


class AuthenticationError(SellerCenterError):
    """E007 (wrong user or key), E009 (the user lacks the role), E010 (plain HTTP)."""


class ThrottlingError(SellerCenterError):
    """E429 or HTTP 429: over the rate limit; retried with backoff."""

    retryable = True


class InvalidRequestError(SellerCenterError):
    """The request itself is wrong (missing or bad parameter, unknown action, bad reason...)."""


class ClockSkewError(InvalidRequestError):
    """E003: the request's Timestamp is outside the server's window."""


class InvalidStateError(SellerCenterError):
    """E028: the item is not in a status that can be canceled."""


class NotFoundError(SellerCenterError):
    """E020 (order item) or E016 (order): unknown, or another seller's."""


class ServerError(SellerCenterError):
    """E006, E021, E119: the platform failed or is not ready; retried with backoff."""

    retryable = True


class TransportError(SellerCenterError):
    """No usable answer: timeout, dropped connection, HTTP 5xx, an HTML or unreadable body."""

    retryable = True


class ResponseError(SellerCenterError):
    """An answer that is not a Seller Center envelope we can trust (hostile or broken)."""


class PagingLimitError(SellerCenterError):
    """A paged read did not reach its end within its page bound (``max_pages``)."""


ADVICE: dict[str, str] = {
    "E001": "A required parameter is missing; this is a bug in the caller",
    "E002": "The API version must be 1.0",
    "E003": "Check the clock of the machine running this task: it must be within a few "
    "minutes of real UTC time (enable NTP)",
    "E004": "The Timestamp must be ISO 8601 with an offset",
    "E006": "Seller Center had an internal error; it is retried",
    "E007": "Check the connection's login (UserID) and password (API key)",
    "E009": "The API user lacks the role for this call: grant it under Manage Users",
    "E010": "Use an https:// base URL",
    "E016": "Check the order id",
    "E018": "Give CreatedAfter or UpdatedAfter",
    "E020": "The order item does not exist or belongs to another seller; check the id",
    "E021": "The order system behind the API failed; it is retried",
    "E022": "Use SHORTAGE or a canceled-type reason listed by GetFailureReasons",
    "E028": "Only pending items can be canceled",
    "E038": "Too many orders in one request; the batch is split",
    "E056": "OrderIdList must be a JSON array such as [1,2]",
    "E070": "SkuSellerList must be a JSON array of strings",
    "E119": "Seller Center is not ready yet; it is retried",
    "E429": "Over the rate limit: lower the connection's rate_limit or run fewer tasks at once",
}

_KINDS: dict[str, type[SellerCenterError]] = {
    "E003": ClockSkewError,
    "E007": AuthenticationError,
    "E009": AuthenticationError,
    "E010": AuthenticationError,
    "E016": NotFoundError,
    "E020": NotFoundError,
    "E028": InvalidStateError,
    "E006": ServerError,
    "E021": ServerError,
    "E119": ServerError,
    "E429": ThrottlingError,
}


def normalize_code(raw: str | int | None) -> str | None:
    """``28``, ``"28"``, ``"E028"`` -> ``"E028"``; None or blank -> None."""
    if raw is None:
        return None
    text = str(raw).strip().upper()
    if not text:
        return None
    if text.startswith("E"):
        text = text[1:]
    return f"E{int(text):03d}" if text.isdigit() else str(raw).strip()[:20]


def error_for_code(
    code: str | None,
    message: str,
    *,
    action: str | None = None,
    http_status: int | None = None,
    details: list[dict[str, str]] | None = None,
    retry_after: float | None = None,
) -> SellerCenterError:
    """Build the error of the right kind for an API error code."""
    kind = _KINDS.get(code or "", InvalidRequestError if code else SellerCenterError)
    return kind(
        message,
        code=code,
        action=action,
        http_status=http_status,
        details=details,
        retry_after=retry_after,
    )
