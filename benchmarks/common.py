"""What every benchmark shares: result lines, an isolated Airflow home, out-of-process
servers (started and always stopped), the machine description, and small timing helpers.

Only loopback addresses are used. Every loop elsewhere is bounded in count and in time.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import platform
import re
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"
USER_ID = "bench@example.com"
API_KEY = "bench-api-key-not-a-secret"
SELLER_ID = "SBX100"  # the sandbox's main seller
BUSINESS_UNIT = "FACL"

# -- environment: set before anything imports Airflow ---------------------------------------

_HOME = Path(tempfile.mkdtemp(prefix="seller-bench-airflow-"))
atexit.register(shutil.rmtree, _HOME, True)
BENCH_ENV = {
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    # Loopback only, and never through a proxy.
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
os.environ.update(BENCH_ENV)
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def temp_dir(prefix: str) -> Path:
    """A temporary directory removed when the run ends."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    """One printed line: what, project, baseline, ratio, target, met."""

    what: str
    project: str
    baseline: str
    ratio: float
    target: str
    met: bool

    def row(self) -> str:
        ratio = f"{self.ratio:.2f}x" if math.isfinite(self.ratio) else "n/a"
        return (
            f"| {self.what} | {self.project} | {self.baseline} | {ratio} | {self.target} | "
            f"{'yes' if self.met else 'no'} |"
        )


HEADER = "| what | project | baseline | ratio | target | met |\n|---|---|---|---|---|---|"


def note(text: str) -> None:
    """An explanatory line (not a result): indented, so results stay easy to pick out."""
    for line in text.splitlines():
        print(f"    {line}", flush=True)


def emit(results: Sequence[Result]) -> None:
    for result in results:
        print(result.row(), flush=True)


def run_standalone(title: str, run: Callable[[], list[Result]]) -> int:
    """``python -m benchmarks.<name>``: the machine, then this benchmark's lines."""
    print_machine()
    print(f"\n## {title}\n", flush=True)
    print(HEADER, flush=True)
    started = time.perf_counter()
    results = run()
    print(f"\n{title}: {time.perf_counter() - started:.1f} s", flush=True)
    return 0 if results else 1


# -- machine -------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' (working tree has uncommitted changes)' if dirty else ''}"


def machine_info() -> dict[str, str]:
    packages = ("apache-airflow", "airflow-seller-provider", "requests", "urllib3", "lxml")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(_nproc()),
        "cpu": _cpu_model(),
        "memory": _memory(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": ", ".join(f"{name} {_version(name)}" for name in packages),
        "commit": _git_commit(),
    }


def print_machine() -> None:
    for key, value in machine_info().items():
        print(f"{key}: {value}", flush=True)


# -- timing --------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_rate(value: float, unit: str) -> str:
    return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def fmt_bytes(size: float) -> str:
    return f"{size / (1024 * 1024):.2f} MiB"


# -- out-of-process servers ----------------------------------------------------------------


def _read_first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's first line of standard output, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                return proc.stdout.readline()
            if proc.poll() is not None:
                break
    return ""


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it does not end in time; always reaped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def child_process(
    argv: Sequence[str], *, ready: str, timeout: float = 60, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``argv``, wait for a first stdout line matching the regex ``ready`` (its first
    group is yielded), and stop the process on exit whatever happens."""
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
        try:
            first = _read_first_line(proc, timeout)
            found = re.search(ready, first)
            if not found:
                log.seek(0)
                raise RuntimeError(
                    f"{' '.join(argv[:4])}... did not start: {first!r}; "
                    f"stderr: {log.read()[-2000:]}"
                )
            yield proc, found.group(1)
        finally:
            stop_process(proc)


class SandboxProcess:
    """A sandbox running in its own process (so it does not share the benchmark's GIL)."""

    def __init__(self, url: str, pid: int | None = None) -> None:
        self.url = url
        self.pid = pid
        self.user_id = USER_ID
        self.api_key = API_KEY
        self.seller_id = SELLER_ID
        self.business_unit = BUSINESS_UNIT

    def _call(self, method: str, path: str, payload: Any = None, timeout: float = 120) -> Any:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(
            f"{self.url}_sandbox/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with _NO_PROXY_OPENER.open(request, timeout=timeout) as answer:
            return json.load(answer)

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")

    def load_state(self, state: dict[str, Any]) -> None:
        self._call("POST", "state", state)

    def requests_log(self) -> list[dict[str, Any]]:
        return self._call("GET", "requests")

    def clear_requests_log(self) -> None:
        self._call("DELETE", "requests")

    def connection(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "conn_type": "seller_center",
            "host": self.url,
            "login": self.user_id,
            "password": self.api_key,
            "extra": {"seller_id": self.seller_id, "business_unit": self.business_unit}
            | (extra or {}),
        }

    def client(self, **kwargs: Any) -> Any:
        from airflow_seller_provider.client import SellerCenterClient

        return SellerCenterClient(
            self.url,
            self.user_id,
            self.api_key,
            seller_id=self.seller_id,
            business_unit=self.business_unit,
            **kwargs,
        )


@contextlib.contextmanager
def sandbox_process(*options: str, timeout: float = 60) -> Iterator[SandboxProcess]:
    """``python -m airflow_seller_provider.sandbox`` on a free loopback port, with our
    credentials and the given extra flags; stopped on exit."""
    argv = [
        PYTHON,
        "-m",
        "airflow_seller_provider.sandbox",
        "--host",
        LOOPBACK,
        "--port",
        "0",
        "--user-id",
        USER_ID,
        "--api-key",
        API_KEY,
        *options,
    ]
    with child_process(argv, ready=r"listening on (http://\S+/)", timeout=timeout) as (proc, url):
        yield SandboxProcess(url, proc.pid)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def signed_url(base_url: str, action: str, params: dict[str, str] | None = None) -> str:
    """A signed API URL (valid for the sandbox's 5-minute Timestamp window)."""
    from airflow_seller_provider.client.signing import (
        API_VERSION,
        canonical_query,
        sign,
        utc_timestamp,
    )

    signed = {
        **(params or {}),
        "Action": action,
        "Format": "XML",
        "Timestamp": utc_timestamp(),
        "UserID": USER_ID,
        "Version": API_VERSION,
    }
    return f"{base_url}?{canonical_query(signed)}&Signature={sign(signed, API_KEY)}"


USER_AGENT = f"{SELLER_ID}/Python/{platform.python_version()}/PROPIA/{BUSINESS_UNIT}"
