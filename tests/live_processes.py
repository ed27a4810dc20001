"""Helpers the live-Airflow test stacks share (tests/distributed, tests/scale): free ports,
bounded waits, the metadata DB's migration, timestamps and overlaps of task tries, and
what a process tree costs (CPU, memory, from /proc)."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import requests

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.5) -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, requests.RequestException, ValueError, sqlite3.Error) as exc:
            last_error = exc
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s (last error: {last_error!r})")


def descendants(roots: list[int]) -> set[int]:
    """The given pids and every live process below them (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid for pid in roots if Path(f"/proc/{pid}").exists()]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def _kib(path: str, field: str) -> int:
    try:
        text = Path(path).read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def memory_of(roots: list[int]) -> dict[str, float]:
    """RSS and PSS (shared pages split between the processes sharing them) in MiB."""
    pids = descendants(roots)
    rss = sum(_kib(f"/proc/{pid}/status", "VmRSS") for pid in pids)
    pss = sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)
    return {"processes": len(pids), "rss_mib": rss / 1024, "pss_mib": pss / 1024}


def cpu_seconds(roots: list[int]) -> float:
    """User + system CPU of the processes below ``roots``, their reaped children included
    (a task process, once its supervisor has reaped it, counts in the supervisor's)."""
    ticks = 0
    for pid in descendants(roots):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def migrate_db(airflow: str, env: Mapping[str, str], home: Path, log: Path) -> float:
    """``airflow db migrate`` (bounded), its output kept in ``log``; returns its seconds."""
    started = time.monotonic()
    done = subprocess.run(
        [airflow, "db", "migrate"],
        env=dict(env),
        cwd=home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate exited with {done.returncode}")
    return time.monotonic() - started


def when(text: str | None) -> datetime | None:
    """An API or metadata-DB timestamp as an aware datetime (None stays None)."""
    if not text:
        return None
    text = str(text).replace("Z", "+00:00").replace(" ", "T")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:  # SQLite keeps UTC without an offset
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals open at one instant (an end before a start at the same time)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak
