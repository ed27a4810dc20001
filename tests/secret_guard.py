"""The secret guard (issue 7): a pytest plugin, loaded by tests/conftest.py.

Across the whole suite, no test API key and no request Signature reaches a log
line. A handler on the root logger, at DEBUG, records every formatted line (exception
tracebacks included); after each phase of each test (setup, call, teardown) those lines
and the phase's captured stdout and stderr are checked, and a leak fails that test.
Airflow replaces the root handlers when it configures logging, so the handler (and the
root's DEBUG level) is put back at the start of every phase. Keys come from a registry:
the suite's defaults, every key a SellerCenterClient is built with (see
_register_client_keys), and whatever a test passes to register_secret().
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable

import pytest

SECRETS: set[str] = {
    "sandbox-api-key",  # the sandbox's default key (run_sandbox, the CLI)
    "other-seller-api-key",  # the seeded second seller's key
    "hook-test-secret-key-0123456789",  # tests/hooks
    "b1bdb357ced10fe4e9a69840cdd4f0e9c03d77fe",  # tests/client (the documented test key)
    "viewer-key",
    "second-key",
    "boss-key",
    "not-the-key",
    "demo-api-key-not-a-secret",  # scripts/demo.py
}
# A Signature is HMAC-SHA256 as 64 hex digits: "Signature=<hex>", or a mapping's
# "'Signature': '<hex>'". "Signature=[redacted]" is what the client and sandbox log.
SIGNATURE_VALUE = re.compile(r"Signature['\"]?\s*[=:]\s*['\"]?[0-9a-fA-F]{64}", re.IGNORECASE)


def register_secret(value: str) -> str:
    """Add a secret the guard must never find in a log line; returns it. Short or
    low-variety strings ("k", "0" * 40) are ignored: they would match innocent text."""
    if isinstance(value, str) and len(value) >= 8 and len(set(value)) >= 4:
        SECRETS.add(value)
    return value


def find_leaks(text: str, secrets: Iterable[str] | None = None) -> list[str]:
    """The lines of ``text`` that hold a known secret or a request Signature."""
    known = [s for s in (SECRETS if secrets is None else secrets) if s]
    return [
        line
        for line in text.splitlines()
        if SIGNATURE_VALUE.search(line) or any(s in line for s in known)
    ]


def hide_secrets(line: str, limit: int = 300) -> str:
    """A leaked line fit to print in a report: secrets and signatures blanked, shortened."""
    for secret in sorted(SECRETS, key=len, reverse=True):
        line = line.replace(secret, f"<secret {secret[:3]}...>")
    line = SIGNATURE_VALUE.sub("Signature=<64 hex digits>", line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


class LogLineRecorder(logging.Handler):
    """Keeps every formatted log line until ``take()``; counts them all (``total``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []
        self.total = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a bad format string must not hide the raw values
            line = f"{record.levelname} {record.name}: {record.msg!r} {record.args!r}"
        self.lines.append(line)
        self.total += 1

    def take(self) -> list[str]:
        with self.lock:  # emit() runs under this lock too (Handler.handle)
            lines, self.lines = self.lines, []
        return lines


RECORDER = LogLineRecorder()


def install_recorder() -> None:
    """Put the recorder on the root logger at DEBUG (again, if something replaced it)."""
    root = logging.getLogger()
    if RECORDER not in root.handlers:
        root.addHandler(RECORDER)
    if root.getEffectiveLevel() > logging.DEBUG:
        root.setLevel(logging.DEBUG)


def _register_client_keys() -> None:
    """Every API key a client is built with in this session is a secret of the guard."""
    from airflow_seller_provider.client import transport

    original = transport.Transport.__init__
    if getattr(original, "_secret_guard", False):
        return

    @functools.wraps(original)
    def init(self, settings, api_key, *args, **kwargs):  # type: ignore[no-untyped-def]
        register_secret(api_key)
        original(self, settings, api_key, *args, **kwargs)

    init._secret_guard = True  # type: ignore[attr-defined]
    transport.Transport.__init__ = init  # type: ignore[method-assign]


def pytest_sessionstart(session: pytest.Session) -> None:
    _register_client_keys()
    install_recorder()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    install_recorder()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    install_recorder()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    install_recorder()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    texts = RECORDER.take()  # the log lines (pytest's "Captured log" holds the same)
    texts += [
        content
        for name, content in report.sections
        if name in (f"Captured stdout {call.when}", f"Captured stderr {call.when}")
    ]
    leaks = find_leaks("\n".join(texts))
    if leaks:
        shown = "\n".join(f"  {hide_secrets(line)}" for line in leaks[:5])
        more = f"\n  ... and {len(leaks) - 5} more" if len(leaks) > 5 else ""
        text = (
            f"{len(leaks)} log or output line(s) of the {call.when} phase hold a test API key "
            f"or a request Signature (the secret guard of tests/conftest.py):\n{shown}{more}"
        )
        if report.failed and hasattr(report.longrepr, "addsection"):
            report.longrepr.addsection("secret guard", text)  # keep the test's own failure
        else:
            report.outcome = "failed"
            report.longrepr = text
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = find_leaks("\n".join(RECORDER.take()))  # logged outside any test phase
    if leaks:
        lines = "\n".join(f"  {hide_secrets(line)}" for line in leaks[:5])
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"secret guard: {len(leaks)} line(s) logged outside any test hold a test API "
                f"key or a request Signature:\n{lines}",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
