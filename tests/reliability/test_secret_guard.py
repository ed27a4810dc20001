"""The session-wide secret guard (tests/secret_guard.py) can fail (issue 7): it sees the log
lines of every test, finds keys and Signatures in them, and turns a leak into a failed
test whose report does not repeat the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from types import SimpleNamespace

import pytest

# Imported at collection, as the rest of the suite does: Airflow configures logging (and
# replaces the root logger's handlers) on import; the guard must survive that.
import airflow_seller_provider.compat  # noqa: F401
from tests import secret_guard as guard


def a_signature() -> str:
    return hmac.new(b"key", b"Action=GetOrders", hashlib.sha256).hexdigest()


def test_find_leaks_flags_keys_and_signatures_not_redacted_ones() -> None:
    key = guard.register_secret(f"guard-self-check-{secrets.token_urlsafe(12)}")
    signature = a_signature()
    assert key in guard.SECRETS
    assert guard.find_leaks(f"calling with {key} now") == [f"calling with {key} now"]
    assert guard.find_leaks(f'"POST /?Action=X&Signature={signature} HTTP/1.1" 200')
    assert guard.find_leaks(f"params={{'Signature': '{signature}'}}")
    assert guard.find_leaks("sandbox-api-key") and guard.find_leaks(
        "b1bdb357ced10fe4e9a69840cdd4f0e9c03d77fe"
    )
    assert guard.find_leaks("GET /?Action=X&Signature=[redacted] HTTP/1.1") == []
    assert guard.find_leaks("Signature=abc123 and nothing else") == []
    # Too short or too plain to be told from innocent text: not registered.
    guard.register_secret("k")
    guard.register_secret("0" * 40)
    assert "k" not in guard.SECRETS and "0" * 40 not in guard.SECRETS
    shown = guard.hide_secrets(f"{key} and Signature={signature}")
    assert key not in shown and signature not in shown


def test_the_recorder_sees_debug_lines_of_every_logger_after_airflow_set_up_logging() -> None:
    root = logging.getLogger()
    assert guard.RECORDER in root.handlers and root.getEffectiveLevel() <= logging.DEBUG
    key = guard.register_secret(f"guard-self-check-{secrets.token_urlsafe(12)}")
    seen_before = guard.RECORDER.total
    # Only the recorder may see the deliberate leak: Airflow 2.11's console handler would
    # print it to the captured output, which the guard checks too.
    others = [h for h in root.handlers if h is not guard.RECORDER]
    for handler in others:
        root.removeHandler(handler)
    try:
        logging.getLogger("airflow_seller_provider.client").debug("self-check %s", key)
        try:
            raise RuntimeError(f"an exception quoting {key}")
        except RuntimeError:
            logging.getLogger("some.library").debug("it failed", exc_info=True)
    finally:
        for handler in others:
            root.addHandler(handler)
    lines = guard.RECORDER.take()  # taken, so this test itself does not fail
    assert guard.RECORDER.total == seen_before + 2
    leaks = guard.find_leaks("\n".join(lines))
    assert f"DEBUG airflow_seller_provider.client: self-check {key}" in leaks
    assert f"RuntimeError: an exception quoting {key}" in leaks  # tracebacks are checked


def drive_makereport(report: pytest.TestReport) -> pytest.TestReport:
    """Run the guard's makereport hook wrapper around a finished report."""
    wrapper = guard.pytest_runtest_makereport(item=None, call=SimpleNamespace(when=report.when))
    next(wrapper)
    with pytest.raises(StopIteration) as done:
        wrapper.send(report)
    return done.value.value


def test_a_leak_fails_the_test_and_the_report_hides_the_secret() -> None:
    key = guard.register_secret(f"guard-self-check-{secrets.token_urlsafe(12)}")
    report = pytest.TestReport(
        nodeid="tests/x.py::test_leaky",
        location=("tests/x.py", 1, "test_leaky"),
        keywords={},
        outcome="passed",
        longrepr=None,
        when="call",
        sections=[
            ("Captured stdout setup", f"{key} printed in another phase: not this one's"),
            ("Captured stdout call", f"printed the key {key}\nand a clean line"),
        ],
    )
    result = drive_makereport(report)
    assert result.outcome == "failed"
    text = str(result.longrepr)
    assert "1 log or output line(s) of the call phase" in text and "printed the key" in text
    assert key not in text


def test_a_clean_report_is_left_alone() -> None:
    report = pytest.TestReport(
        nodeid="tests/x.py::test_clean",
        location=("tests/x.py", 1, "test_clean"),
        keywords={},
        outcome="passed",
        longrepr=None,
        when="call",
        sections=[("Captured stdout call", "Signature=[redacted]")],
    )
    assert drive_makereport(report).outcome == "passed"
