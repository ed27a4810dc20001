"""The retry policy, as data: for every error code, error kind and transport fault, whether
a call is tried again, how, and why.

One table, read by ``errors`` (which kind an error code raises, and each kind's default
``retryable``), ``parsing`` (answers without a code: by HTTP status) and ``transport`` (when
to retry, when to re-sign, when a POST's fate is unknown). The codes and their handling are
the API's documented ones (``seller-center-api.md``, "Error codes").

This module imports nothing from the client: kinds are named by their class name in
``errors`` (which checks every name at import).

``How``:
- ``FAIL``: raise at once; waiting or repeating gives the same answer.
- ``BACKOFF``: try again after a full-jitter exponential wait (``Retry-After`` honoured).
- ``RESIGN_ONCE``: sign again with a fresh Timestamp at once, no wait, once per call.
- ``SPLIT``: not the transport's: the caller halves the batch (``get_multiple_order_items``).
- ``LOOK_UP``: not the transport's: the caller looks the item up (E028 after a lost cancel).

Only ``BACKOFF`` makes an error ``retryable``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CODES",
    "FAULTS",
    "KINDS",
    "RETRY_AFTER_STATUSES",
    "UNKNOWN_CODE",
    "How",
    "Rule",
    "honours_retry_after",
    "may_have_applied",
    "non_envelope_rule",
    "resigns",
    "retry_step",
    "rule_for_code",
    "uncoded_envelope_rule",
]


class How(enum.Enum):
    FAIL = "fail"
    BACKOFF = "retry with backoff"
    RESIGN_ONCE = "re-sign once with a fresh Timestamp"
    SPLIT = "split the batch (the caller's)"
    LOOK_UP = "look the item up (the caller's)"


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of the policy: ``how`` to go on, the error ``kind`` (a class name in
    ``errors``) and ``why``. ``may_have_applied``: a sent POST answered so may have been
    applied all the same (the server failed midway), so its answer counts as lost."""

    how: How
    kind: str
    why: str
    may_have_applied: bool = False

    @property
    def retryable(self) -> bool:
        """Retried by the transport with a backoff wait."""
        return self.how is How.BACKOFF


F, B = How.FAIL, How.BACKOFF
_BAD_FILTER = "a filter value the API does not accept; the caller must fix it"

# ----------------------------------------------------------- the API's error codes

CODES: dict[str, Rule] = {
    "E001": Rule(F, "InvalidRequestError", "a parameter is missing: a bug in the caller"),
    "E002": Rule(F, "InvalidRequestError", "the API version must be 1.0"),
    "E003": Rule(
        How.RESIGN_ONCE,
        "ClockSkewError",
        "the Timestamp is outside the server's window: a fresh one fixes a slow request; "
        "rejected again, the machine's clock is off",
    ),
    "E004": Rule(F, "InvalidRequestError", "the Timestamp's format is wrong"),
    "E005": Rule(F, "InvalidRequestError", "the request's format is wrong"),
    "E006": Rule(
        B, "ServerError", "an internal error of the platform: transient", may_have_applied=True
    ),
    "E007": Rule(F, "AuthenticationError", "wrong user or key: waiting does not fix it"),
    "E008": Rule(F, "InvalidRequestError", "no such action"),
    "E009": Rule(F, "AuthenticationError", "the user lacks the role: an admin must grant it"),
    "E010": Rule(F, "AuthenticationError", "plain HTTP is refused: use https"),
    "E011": Rule(F, "InvalidRequestError", "the request is too big: it will stay so"),
    "E014": Rule(F, "InvalidRequestError", _BAD_FILTER),
    "E016": Rule(F, "NotFoundError", "no such order (or another seller's)"),
    "E017": Rule(F, "InvalidRequestError", _BAD_FILTER),
    "E018": Rule(F, "InvalidRequestError", "CreatedAfter or UpdatedAfter is mandatory"),
    "E019": Rule(F, "InvalidRequestError", _BAD_FILTER),
    "E020": Rule(F, "NotFoundError", "no such order item (or another seller's): fails that item"),
    "E021": Rule(
        B, "ServerError", "the order system behind the API failed: transient", may_have_applied=True
    ),
    "E022": Rule(F, "InvalidRequestError", "the cancel reason is not accepted"),
    "E028": Rule(
        How.LOOK_UP,
        "InvalidStateError",
        "the item is not pending; already canceled (e.g. by a lost earlier attempt) means done",
    ),
    "E030": Rule(F, "InvalidRequestError", "the request is empty"),
    "E036": Rule(F, "InvalidRequestError", _BAD_FILTER),
    "E037": Rule(F, "InvalidRequestError", "the order ids are wrong"),
    "E038": Rule(How.SPLIT, "InvalidRequestError", "too many orders in one request"),
    "E039": Rule(F, "InvalidRequestError", "none of the orders was found (an empty answer)"),
    "E056": Rule(F, "InvalidRequestError", "OrderIdList is not in [1,2] form"),
    "E070": Rule(F, "InvalidRequestError", "the SKU list is corrupt"),
    "E074": Rule(F, "InvalidRequestError", _BAD_FILTER),
    "E075": Rule(F, "InvalidRequestError", _BAD_FILTER),
    "E119": Rule(B, "ServerError", "the platform is not ready yet: try later"),
    "E429": Rule(B, "ThrottlingError", "over the rate limit: wait (Retry-After when given)"),
}

UNKNOWN_CODE = Rule(F, "InvalidRequestError", "a code this client does not know: not retried")
"""A code not in ``CODES`` (an undocumented one): the request is taken to be at fault."""

# ------------------------------------------------------------ each kind's default

KINDS: dict[str, Rule] = {
    "SellerCenterError": Rule(F, "SellerCenterError", "an error of no known kind"),
    "AuthenticationError": Rule(F, "AuthenticationError", "credentials, role or channel"),
    "ThrottlingError": Rule(B, "ThrottlingError", "over the rate limit: it passes"),
    "InvalidRequestError": Rule(F, "InvalidRequestError", "the request itself is wrong"),
    "ClockSkewError": Rule(How.RESIGN_ONCE, "ClockSkewError", "see E003"),
    "InvalidStateError": Rule(How.LOOK_UP, "InvalidStateError", "see E028"),
    "NotFoundError": Rule(F, "NotFoundError", "an unknown id stays unknown"),
    "ServerError": Rule(B, "ServerError", "the platform failed or is not ready: transient"),
    "TransportError": Rule(
        B, "TransportError", "no usable answer (timeout, reset, 5xx, gateway page): transient"
    ),
    "ResponseError": Rule(
        F, "ResponseError", "an answer we cannot trust (broken, hostile, too big): it repeats"
    ),
    "PagingLimitError": Rule(F, "PagingLimitError", "the caller's own page bound"),
}

# ------------------------------------------- faults: no answer, or no envelope

FAULTS: dict[str, Rule] = {
    # requests' exceptions
    "tls": Rule(F, "TransportError", "TLS failed: certificates or base URL, waiting won't fix"),
    "bad_request": Rule(F, "SellerCenterError", "the request could not be built"),
    "connect_timeout": Rule(B, "TransportError", "could not connect in time: transient"),
    "timeout": Rule(B, "TransportError", "no answer in time: transient"),
    "connection": Rule(B, "TransportError", "the connection failed or was reset: transient"),
    # a body that is no Seller Center envelope, by HTTP status
    "http_429": Rule(B, "ThrottlingError", "HTTP 429: over the rate limit"),
    "http_5xx": Rule(B, "TransportError", "HTTP 5xx or 408 from something in front of the API"),
    "html_4xx": Rule(F, "ResponseError", "a web server's 4xx page: wrong base URL or a firewall"),
    "html_page": Rule(B, "TransportError", "a gateway or proxy page: transient"),
    "not_an_envelope": Rule(F, "ResponseError", "an answer that is no envelope: it repeats"),
    # an ErrorResponse without a code, by HTTP status
    "uncoded_429": Rule(B, "ThrottlingError", "an ErrorResponse without a code, HTTP 429"),
    "uncoded_5xx": Rule(B, "ServerError", "an ErrorResponse without a code, HTTP 5xx"),
    "uncoded": Rule(F, "SellerCenterError", "an ErrorResponse without a code"),
}

RETRY_AFTER_STATUSES = (429, 503)
"""Statuses whose ``Retry-After`` is read even on an error that is not retryable."""

_NEVER_APPLIED_KINDS = frozenset({"ThrottlingError"})
"""Refused before any work (rate limit): a POST answered so was not applied."""
_UNCLEAR_ANSWER_KINDS = frozenset({"TransportError", "ResponseError"})
"""No answer we can read: a sent POST may have been applied."""


def rule_for_code(code: str | None) -> Rule | None:
    """The rule of an API error code (``"E028"``); ``UNKNOWN_CODE`` for one not listed;
    None for no code."""
    if not code:
        return None
    return CODES.get(code, UNKNOWN_CODE)


def uncoded_envelope_rule(http_status: int) -> Rule:
    """An ErrorResponse without a code: its HTTP status decides."""
    if http_status == 429:
        return FAULTS["uncoded_429"]
    if http_status >= 500:
        return FAULTS["uncoded_5xx"]
    return FAULTS["uncoded"]


def non_envelope_rule(http_status: int, html: bool) -> Rule:
    """A body that is not a Seller Center envelope: its HTTP status, and whether it is an
    HTML page, decide."""
    if http_status == 429:
        return FAULTS["http_429"]
    if http_status >= 500 or http_status == 408:
        return FAULTS["http_5xx"]
    if html:
        return FAULTS["html_4xx"] if 400 <= http_status < 500 else FAULTS["html_page"]
    return FAULTS["not_an_envelope"]


def resigns(code: str | None) -> bool:
    """Whether this code is cured by signing again with a fresh Timestamp (E003)."""
    return code is not None and CODES.get(code, UNKNOWN_CODE).how is How.RESIGN_ONCE


def retry_step(code: str | None, retryable: bool, *, resigned: bool) -> How:
    """What the transport does next with a failed attempt (attempt and time bounds
    aside): ``BACKOFF``, ``RESIGN_ONCE`` or ``FAIL``. ``resigned``: this call re-signed
    already."""
    if resigns(code):
        return How.RESIGN_ONCE if retryable or not resigned else How.FAIL
    return How.BACKOFF if retryable else How.FAIL


def honours_retry_after(retryable: bool, http_status: int) -> bool:
    """Whether the answer's ``Retry-After`` header is read into the error."""
    return retryable or http_status in RETRY_AFTER_STATUSES


def may_have_applied(kinds: Iterable[str], code: str | None, http_status: int | None) -> bool:
    """After a POST that left this machine, failed with an error of these ``kinds`` (its
    class and base class names): could the server have applied it although we got no
    clear no?"""
    names = frozenset(kinds)
    if names & _NEVER_APPLIED_KINDS:
        return False
    if http_status is None or http_status >= 500:
        return True
    if names & _UNCLEAR_ANSWER_KINDS:
        return True
    rule = CODES.get(code or "")
    return rule is not None and rule.may_have_applied
