"""Fixtures of the browser tests: a throw-away Airflow api-server, the sandbox, headless Chromium,
and (``airflow_components``) a scheduler and dag-processor beside the api-server.

Only ``make test-browser`` (RUN_BROWSER_TESTS=1) gets this far: the test modules skip
themselves otherwise, so the default suite needs neither Playwright nor Chromium. Every
process started here is stopped by its id in the fixture's teardown, with bounded waits, pass
or fail.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_seller_provider.sandbox.testing import Sandbox, run_sandbox

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))
ADMIN = "admin"
TRIGGERER = "triggerer"  # the simple auth manager's "user" role: may trigger DAGs
BYSTANDER = "bystander"  # an admin too, but not among a DAG's approvers
START_TIMEOUT_S = 180  # api-server: a few seconds here; generous for a loaded CI machine
UI_TIMEOUT_MS = 30_000  # one element or one answer in the browser


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives headless Chromium against a live Airflow (make test-browser)"
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)  # read by the page fixture's teardown
    return report


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return f"({path} unreadable)"


def stop(*procs: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process groups this test started (by their ids, all at once), wait for
    their leaders, then SIGKILL whatever is left in those groups."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        for proc in procs:
            with suppress(ProcessLookupError):  # the group is gone already
                os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait
        for proc in procs:
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))


@dataclass
class Airflow:
    url: str  # http://127.0.0.1:PORT/
    home: Path
    log: Path
    username: str
    password: str
    env: dict[str, str] = field(repr=False, default_factory=dict)  # what every component gets
    dags: Path | None = None  # the DAGs folder (empty until a test puts DAG files there)
    logs: list[Path] = field(default_factory=list)  # every component's log, api-server first

    def token(self) -> str:
        """A JWT from the simple auth manager (POST /auth/token), as any API client gets one."""
        answer = requests.post(
            self.url + "auth/token",
            json={"username": self.username, "password": self.password},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["access_token"]

    def as_user(self, username: str) -> Airflow:
        """The same Airflow, called as another of the simple auth manager's users."""
        passwords = json.loads(
            (self.home / "simple_auth_manager_passwords.json.generated").read_text()
        )
        return replace(self, username=username, password=passwords[username])

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="session")
def artifacts(request: pytest.FixtureRequest) -> Iterator[Path]:
    """Where the Airflow home, the logs and the screenshots go: kept if a test failed."""
    path = Path(tempfile.mkdtemp(prefix="asp-browser-"))
    print(f"\nbrowser test artifacts: {path}")
    yield path  # torn down last: the processes using it are stopped by then
    if request.session.testsfailed:
        print(f"\nbrowser test artifacts kept: {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow(artifacts: Path) -> Iterator[Airflow]:
    """``airflow db migrate`` in a fresh AIRFLOW_HOME, then ``airflow api-server`` on loopback."""
    home, dags = artifacts / "airflow-home", artifacts / "dags"
    home.mkdir()
    dags.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": (
            f"{ADMIN}:admin,{TRIGGERER}:user,{BYSTANDER}:admin"
        ),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        # For the scheduler, when a test starts one (airflow_components): manual runs only
        # (no run of a DAG's own schedule may touch the sandbox), and few executor workers on
        # this small machine.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    migrate_log = artifacts / "airflow-db-migrate.log"
    with migrate_log.open("w") as out:
        done = subprocess.run(
            [AIRFLOW_BIN, "db", "migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, f"airflow db migrate failed:\n{tail(migrate_log)}"

    log = artifacts / "airflow-api-server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [AIRFLOW_BIN, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends it and any child
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        password_file = home / "simple_auth_manager_passwords.json.generated"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"airflow api-server exited early:\n{tail(log)}"
            assert time.monotonic() < deadline, (
                f"airflow api-server did not answer in {START_TIMEOUT_S}s:\n{tail(log)}"
            )
            try:
                health = requests.get(url + "api/v2/monitor/health", timeout=5)
                if health.status_code == 200 and password_file.exists():
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        password = json.loads(password_file.read_text())[ADMIN]
        yield Airflow(
            url=url,
            home=home,
            log=log,
            username=ADMIN,
            password=password,
            env=env,
            dags=dags,
            logs=[log],
        )
    finally:
        stop(proc)


COMPONENT_HEALTH = {"scheduler": "scheduler", "dag-processor": "dag_processor"}


@contextmanager
def airflow_components(
    airflow: Airflow, artifacts: Path, env: dict[str, str], names: tuple[str, ...]
) -> Iterator[None]:
    """Start ``airflow <name>`` for each name (e.g. scheduler, dag-processor) with the
    api-server's environment plus ``env``; wait until the api-server reports each healthy;
    stop them all by their ids on exit, pass or fail."""
    procs: list[tuple[str, subprocess.Popen, Path]] = []
    try:
        for name in names:
            log = artifacts / f"airflow-{name}.log"
            with log.open("w") as out:
                proc = subprocess.Popen(
                    [AIRFLOW_BIN, name],
                    env={**airflow.env, **env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its group holds the executor's workers too
                )
            procs.append((name, proc, log))
            airflow.logs.append(log)
        deadline = time.monotonic() + START_TIMEOUT_S
        health: dict[str, Any] = {}
        while True:
            for name, proc, log in procs:
                assert proc.poll() is None, f"airflow {name} exited early:\n{tail(log)}"
            try:
                health = requests.get(airflow.url + "api/v2/monitor/health", timeout=5).json()
            except (requests.RequestException, ValueError):
                health = {}
            statuses = {
                name: (health.get(COMPONENT_HEALTH.get(name, name)) or {}).get("status")
                for name in names
            }
            if all(status == "healthy" for status in statuses.values()):
                break
            assert time.monotonic() < deadline, (
                f"not healthy in {START_TIMEOUT_S}s: {statuses}\n"
                + "\n".join(f"airflow {name}:\n{tail(log)}" for name, _, log in procs)
            )
            time.sleep(1)
        yield
    finally:
        stop(*(proc for _, proc, _ in procs))
        for _, _, log in procs:  # later failures print the api-server's log only
            airflow.logs.remove(log)


def task_log_tails(airflow: Airflow, files: int = 5, chars: int = 2000) -> str:
    """The newest task logs under the Airflow home (what the tasks themselves said)."""
    logs = sorted(
        (airflow.home / "logs").glob("dag_id=*/**/*.log"), key=lambda p: p.stat().st_mtime
    )[-files:]
    return "\n".join(f"--- {p.relative_to(airflow.home)}:\n{tail(p, chars)}" for p in logs)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The Seller Center sandbox, in this process, on a free loopback port."""
    with run_sandbox(
        user_id="browser-test@example.com", api_key=secrets.token_urlsafe(16), orders=20
    ) as running:
        yield running


@pytest.fixture(scope="session")
def browser_context(artifacts: Path) -> Iterator[Any]:
    """Debian's Chromium (no browser download) with a fresh profile, driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test-browser` installs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(artifacts / "chromium-profile"),  # the fresh user-data-dir
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 1400},
            timeout=60_000,
        )
        try:
            context.set_default_timeout(UI_TIMEOUT_MS)
            yield context
        finally:
            context.close()


@pytest.fixture
def page(
    request: pytest.FixtureRequest, browser_context: Any, airflow: Airflow, artifacts: Path
) -> Iterator[Any]:
    """A tab, signed out (each test signs in itself); on failure its screenshot, its HTML and
    the Airflow logs' tails are kept."""
    browser_context.clear_cookies()
    tab = browser_context.new_page()
    try:
        yield tab
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            shot = artifacts / f"failure-{request.node.name}.png"
            try:
                tab.screenshot(path=str(shot), full_page=True)
                shot.with_suffix(".html").write_text(tab.content())
                print(f"\nfailure screenshot: {shot}")
            except Exception as exc:  # the page may be what broke
                print(f"\nno failure screenshot: {exc}")
            for log in airflow.logs:
                print(f"{log.name} ({log}), last lines:\n{tail(log)}")
            if len(airflow.logs) > 1:  # tasks ran: a scheduler was started
                print(f"task logs, newest last:\n{task_log_tails(airflow)}")
        tab.close()
