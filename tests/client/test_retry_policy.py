"""The retry policy table: complete for the documented codes, consistent with the kinds."""

from __future__ import annotations

import pytest

from airflow_seller_provider.client import errors, retry_policy
from airflow_seller_provider.client.retry_policy import How

DOCUMENTED = [
    "E001",
    "E002",
    "E003",
    "E004",
    "E005",
    "E006",
    "E007",
    "E008",
    "E009",
    "E010",
    "E011",
    "E014",
    "E016",
    "E017",
    "E018",
    "E019",
    "E020",
    "E021",
    "E022",
    "E028",
    "E030",
    "E036",
    "E037",
    "E038",
    "E039",
    "E056",
    "E070",
    "E074",
    "E075",
    "E119",
    "E429",
]


def test_every_documented_code_has_a_rule_with_a_reason() -> None:
    assert sorted(retry_policy.CODES) == sorted(DOCUMENTED)
    for rule in [*retry_policy.CODES.values(), *retry_policy.FAULTS.values()]:
        assert rule.why and rule.kind in retry_policy.KINDS


@pytest.mark.parametrize(
    ("code", "how"),
    [
        ("E003", How.RESIGN_ONCE),
        ("E006", How.BACKOFF),
        ("E021", How.BACKOFF),
        ("E119", How.BACKOFF),
        ("E429", How.BACKOFF),
        ("E028", How.LOOK_UP),
        ("E038", How.SPLIT),
        ("E007", How.FAIL),
        ("E999", How.FAIL),
    ],
)
def test_documented_handling(code: str, how: How) -> None:
    rule = retry_policy.rule_for_code(code)
    assert rule is not None and rule.how is how
    assert errors.error_for_code(code, "x").retryable is rule.retryable


def test_retry_step() -> None:
    step = retry_policy.retry_step
    assert step("E003", False, resigned=False) is How.RESIGN_ONCE
    assert step("E003", False, resigned=True) is How.FAIL
    assert step("E006", True, resigned=True) is How.BACKOFF
    assert step(None, True, resigned=False) is How.BACKOFF
    assert step("E007", False, resigned=False) is How.FAIL


def test_may_have_applied() -> None:
    def applied(error: errors.SellerCenterError, status: int | None) -> bool:
        return retry_policy.may_have_applied(errors.kind_names(error), error.code, status)

    assert not applied(errors.ThrottlingError("x", code="E429"), 503)
    assert applied(errors.TransportError("x"), None)
    assert applied(errors.InvalidRequestError("x", code="E022"), 502)
    assert applied(errors.ResponseError("x"), 200)
    assert applied(errors.ServerError("x", code="E021"), 200)
    assert not applied(errors.ServerError("x", code="E119"), 200)
    assert not applied(errors.InvalidStateError("x", code="E028"), 200)


def test_fault_rules_build_their_kind() -> None:
    tls = errors.error_of_kind(retry_policy.FAULTS["tls"], "TLS failed")
    assert type(tls) is errors.TransportError and not tls.retryable
    page = errors.error_of_kind(retry_policy.non_envelope_rule(200, html=True), "page")
    assert type(page) is errors.TransportError and page.retryable
    wrong = errors.error_of_kind(retry_policy.non_envelope_rule(404, html=True), "404")
    assert type(wrong) is errors.ResponseError and not wrong.retryable
