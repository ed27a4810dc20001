"""SellerCenterError and its kinds, keyed by the API's error codes.

Every error says which call failed, with which code, and what to do about it.
"""

from __future__ import annotations

from typing import Any

from airflow_seller_provider.client import retry_policy

__all__ = [
    "ADVICE",
    "AuthenticationError",
    "ClockSkewError",
    "InvalidRequestError",
    "InvalidStateError",
    "NotFoundError",
    "PagingLimitError",
    "ResponseError",
    "SellerCenterError",
    "ServerError",
    "ThrottlingError",
    "TransportError",
    "error_for_code",
    "error_of_kind",
    "kind_names",
    "normalize_code",
]


class SellerCenterError(Exception):
    """An error answer of the API, or a fault on the way to it.

    ``code`` is the API's code in ``E0NN`` form (``"E028"``), ``"HTTP_503"`` for a bare HTTP
    failure, or None for a fault with no answer (timeout, dropped connection, unreadable body).

    The transport sets ``attempts`` (requests made for the call, this one included) and
    ``lost_answer``: True when some attempt of the call failed in a way that means the server
    may have applied it (a dropped connection, a timeout or a 5xx on a POST), so a caller
    that sees, say, E028 after a lost cancel should look the item up before calling it a
    failure.

    Each kind's default ``retryable`` comes from ``retry_policy.KINDS``.
    """

    retryable: bool = retry_policy.KINDS["SellerCenterError"].retryable
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
        code_text = self.code or ""
        shown = bool(code_text) and not self.message.startswith(code_text)
        if shown and code_text.startswith("HTTP_"):
            shown = f"HTTP {code_text[5:]}" not in self.message
        code = f"{code_text} " if shown else ""
        advice = ADVICE.get(code_text, "")
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


def _rebuild(
    cls: type[SellerCenterError], message: str, kwargs: dict[str, Any]
) -> SellerCenterError:
    return cls(message, **kwargs)


class AuthenticationError(SellerCenterError):
    """E007 (wrong user or key), E009 (the user lacks the role), E010 (plain HTTP)."""


class ThrottlingError(SellerCenterError):
    """E429 or HTTP 429: over the rate limit; retried with backoff."""

    retryable = retry_policy.KINDS["ThrottlingError"].retryable


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

    retryable = retry_policy.KINDS["ServerError"].retryable


class TransportError(SellerCenterError):
    """No usable answer: timeout, dropped connection, HTTP 5xx, an HTML or unreadable body."""

    retryable = retry_policy.KINDS["TransportError"].retryable


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

_BY_NAME: dict[str, type[SellerCenterError]] = {
    kind.__name__: kind
    for kind in (
        SellerCenterError,
        AuthenticationError,
        ThrottlingError,
        InvalidRequestError,
        ClockSkewError,
        InvalidStateError,
        NotFoundError,
        ServerError,
        TransportError,
        ResponseError,
        PagingLimitError,
    )
}


def _check_policy() -> None:
    """Every kind the retry policy names exists, and each kind's ``retryable`` is the
    policy's (a typo in the table fails at import, not on the day the code is answered)."""
    rules = [
        *retry_policy.CODES.values(),
        *retry_policy.FAULTS.values(),
        *retry_policy.KINDS.values(),
        retry_policy.UNKNOWN_CODE,
    ]
    for rule in rules:
        if rule.kind not in _BY_NAME:
            raise RuntimeError(f"retry_policy names an unknown error kind {rule.kind!r}")
    for code, rule in retry_policy.CODES.items():
        if rule.retryable is not _BY_NAME[rule.kind].retryable:
            raise RuntimeError(
                f"retry_policy: {code} and its kind {rule.kind} disagree on retrying"
            )
    for name, kind in _BY_NAME.items():
        if kind.retryable is not retry_policy.KINDS[name].retryable:
            raise RuntimeError(f"{name}.retryable disagrees with retry_policy.KINDS")


_check_policy()


def kind_names(error: BaseException) -> list[str]:
    """The class names of an error and its bases (what ``retry_policy`` reads kinds by)."""
    return [cls.__name__ for cls in type(error).__mro__]


def error_of_kind(rule: retry_policy.Rule, message: str, **fields: Any) -> SellerCenterError:
    """An error of the kind a policy rule names, with the rule's ``retryable``."""
    kind = _BY_NAME[rule.kind]
    if rule.retryable is not kind.retryable:
        fields["retryable"] = rule.retryable
    return kind(message, **fields)


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
    rule = retry_policy.rule_for_code(code)
    kind = _BY_NAME[rule.kind] if rule is not None else SellerCenterError
    return kind(
        message,
        code=code,
        action=action,
        http_status=http_status,
        details=details,
        retry_after=retry_after,
    )
