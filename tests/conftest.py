"""Test-wide setup: an isolated Airflow home, set before anything imports Airflow.

Under pytest-xdist (``make test`` runs two workers) each worker process imports this file,
so each gets its own home, metadata DB and sandboxes; the DB is migrated once per run and
copied (``airflow_db``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="asp-airflow-home-"))

os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
# Nothing in the suite may reach the internet; loopback only.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")


import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite metadata DB in this process's AIRFLOW_HOME.

    ``airflow db migrate`` (about 5 s) runs once per test run, into a template shared by the
    xdist workers (under a file lock); each worker copies the template into its own home."""
    import fcntl
    import shutil

    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is <run>/popen-gwN: the run's folder is shared.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    template = shared / "airflow-template-home"
    with (shared / "airflow-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / "airflow.db").exists():
            template.mkdir(exist_ok=True)
            subprocess.run(
                [AIRFLOW_BIN, "db", "migrate"],
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "AIRFLOW_HOME": str(template)},
            )
    shutil.copyfile(template / "airflow.db", _HOME / "airflow.db")
    return _HOME


# Tests that start Airflow task runs or CLIs (a migrated DB, `airflow ...` subprocesses)
# are marked ``airflow_process``; `make test-unit` (the inner loop) leaves them out.
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "airflow_process: starts Airflow task runs or CLIs (not in make test-unit)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "airflow_db" in getattr(item, "fixturenames", ()) or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.airflow_process)


# The secret guard's hooks and helpers live in tests/secret_guard.py; importing its hooks
# here registers them for the whole suite.
from tests.secret_guard import (  # noqa: E402, F401
    find_leaks,
    hide_secrets,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_runtest_teardown,
    pytest_sessionfinish,
    pytest_sessionstart,
    register_secret,
)
