"""The distributed test runs only with RUN_DISTRIBUTED_TESTS=1 (``make test-distributed``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "distributed: a real CeleryExecutor deployment (make test-distributed)"
    )
