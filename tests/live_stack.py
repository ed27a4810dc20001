"""What the live Airflow deployments of the suite share (tests/distributed/stack.py: Celery
on PostgreSQL; tests/scale/stack.py: LocalExecutor on SQLite): the components as
subprocesses, each in its own session with its output in ``<home>/logs/<name>.log``; the
settings every component needs to trust the others; the api-server's health, token and
REST API; a memory sampler; and a stop that always reaps every process it started
(SIGTERM, a bounded wait, then SIGKILL to its process group)."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests

from .live_processes import free_port, memory_of

REPO = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO / "dags"
AIRFLOW = str(Path(sys.executable).parent / "airflow")
POOL = "seller_center"


class LiveStack:
    """Start with the subclass's ``start()``, always ``stop()``; ``tails()`` for a failure
    report. A subclass supplies ``env()`` (``airflow_env()`` plus its executor, database
    and connections)."""

    # One-shot components (``airflow pools set``...) whose exit is not a failure.
    one_shot: frozenset[str] = frozenset()

    def __init__(self, home: Path) -> None:
        self.home = home
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.password = secrets.token_urlsafe(16)
        # Shared by every component: tokens signed by one are checked by the others.
        self._fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        self._secret = secrets.token_urlsafe(64)
        self._jwt_secret = secrets.token_urlsafe(64)
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only, never through a proxy
        self.token = ""
        self.timings: dict[str, float] = {}
        self._peak: dict[str, float] = {}
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    # -- processes ---------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def airflow_env(self) -> dict[str, str]:
        """This machine's environment without Airflow's settings, plus those every
        component of the deployment shares (home, DAGs, keys, the api-server's address)."""
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AIRFLOW") and k != "PYTEST_CURRENT_TEST"
        }
        return {
            **base,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__FERNET_KEY": self._fernet_key,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": f"{self.api_url}/",
            "AIRFLOW__API__SECRET_KEY": self._secret,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }

    def _log_name(self, name: str) -> str:
        """The log file (without ``.log``) of a process about to start as ``name``."""
        return name

    def spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        with (self.logs / f"{self._log_name(name)}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env if env is not None else self.env(),
                cwd=self.home,
                start_new_session=True,  # its own process group, to reap its children
            )

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is not None and name not in self.one_shot:
                raise RuntimeError(f"{name} (pid {proc.pid}) exited with {code}")

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tails(self, lines: int = 40) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()
            parts.append(f"----- {path.name} (last {lines} lines) -----")
            parts.extend(text[-lines:])
        return "\n".join(parts)

    def _to_stop(self) -> Iterable[tuple[str, subprocess.Popen[bytes]]]:
        """The processes ``stop()`` reaps, in order: the newest first."""
        return reversed(list(self.procs.items()))

    def stop(self) -> list[str]:
        """Stop every process this stack started; return what needed a kill."""
        self._sampling.set()
        killed = []
        for name, proc in self._to_stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    killed.append(name)
                    proc.kill()
                    proc.wait(timeout=10)
            # Whatever it left behind in its own process group (workers, tasks...).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        self.http.close()
        return killed

    # -- health and the REST API -------------------------------------------------------
    def api_healthy(self) -> bool:
        """Metadata DB, scheduler and dag-processor healthy (the API's own health check)."""
        self.check_alive()
        health = self.http.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
        parts = ("metadatabase", "scheduler", "dag_processor")
        return all((health.get(p) or {}).get("status") == "healthy" for p in parts)

    def _login(self) -> str:
        answer = self.http.post(
            f"{self.api_url}/auth/token",
            json={"username": "admin", "password": self.password},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            answer = self.http.request(
                method,
                f"{self.api_url}/api/v2{path}",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30,
                **kwargs,
            )
            if answer.status_code == 401 and attempt == 1:
                self.token = self._login()  # the token expired in a long run
                continue
            break
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    # -- memory --------------------------------------------------------------------------
    def airflow_pids(self) -> list[int]:
        """The deployment's own processes (what memory and CPU are measured over)."""
        return [p.pid for p in self.procs.values()]

    def stack_memory(self) -> dict[str, float]:
        return memory_of(self.airflow_pids())

    def _start_sampler(self) -> None:
        def sample() -> None:
            while not self._sampling.wait(1.0):
                now = self.stack_memory()
                if now["pss_mib"] > self._peak.get("pss_mib", 0):
                    self._peak = now

        self._sampler = threading.Thread(target=sample, name="memory-sampler", daemon=True)
        self._sampler.start()

    def peak_memory(self) -> dict[str, float]:
        return dict(self._peak)
