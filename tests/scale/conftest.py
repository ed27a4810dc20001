"""The scale tests run only with RUN_SCALE_TESTS=1 (``make test-scale``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scale: many connections on a live LocalExecutor deployment (make test-scale)"
    )
