"""The distributed tests run only with RUN_DISTRIBUTED_TESTS=1 (``make test-distributed``,
``make test-faults``). ``start_stack`` starts a Stack and always stops it."""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .postgres import pg_bindir


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "distributed: a real CeleryExecutor deployment (make test-distributed)"
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test's report ends with the tails of every log of its stack."""
    report = yield
    if report.when == "call" and report.failed:
        stack = getattr(item, "funcargs", {}).get("stack")
        if stack is not None and hasattr(stack, "tails"):
            report.sections.append(("the stack's logs (tails)", stack.tails()))
    return report


def check_prerequisites() -> None:
    """Asked for (RUN_DISTRIBUTED_TESTS=1) but not runnable: a failure, never a quiet skip."""
    for module in ("airflow.providers.celery", "airflow.providers.postgres", "psycopg2"):
        if importlib.util.find_spec(module) is None:
            pytest.fail(f"needs {module}: requirements/distributed.txt (make test-distributed)")
    if shutil.which("redis-server") is None:
        pytest.fail("needs redis-server (make test-distributed installs Debian's)")
    if pg_bindir() is None:
        pytest.fail("needs PostgreSQL (make test-distributed installs Debian's postgresql)")


@contextlib.contextmanager
def start_stack(home: Path, report: Any, **kwargs: Any) -> Iterator[Any]:
    """A started Stack, always stopped (every process by its pid, the PostgreSQL cluster
    with pg_ctl). The logs' tails are printed when the start fails, and added to the report
    of a test that fails (pytest_runtest_makereport). ``report(text)`` prints past pytest's
    capture."""
    check_prerequisites()
    from .stack import Stack

    deployment = Stack(home, **kwargs)
    try:
        deployment.start()
        yield deployment
    except BaseException:
        print(deployment.tails())
        raise
    finally:
        killed = deployment.stop()
        stopped = len(deployment.procs) + len(deployment.retired)
        report(
            f"\nStopped {stopped} processes and the PostgreSQL cluster; killed after the "
            f"grace period: {killed}"
        )
