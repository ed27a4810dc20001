"""6. Sandbox capacity: requests per second the sandbox serves on loopback.

The sandbox runs in its own process (zero latency, no rate limit, no faults). Load comes
from separate client processes, each with several threads, each thread with its own
keep-alive ``requests.Session`` sending a signed GetFailureReasons (signed once: the
sandbox still checks the signature, the timestamp and the user on every request and
renders the answer). Baseline: a trivial stdlib ``ThreadingHTTPServer`` (HTTP/1.1,
keep-alive) in its own process, answering every GET with a fixed body of the same bytes,
under the same load in the same run. Ratio = sandbox / trivial server. Target: at least
1,000 requests/s.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks.common import (
    LOOPBACK,
    PYTHON,
    Result,
    child_process,
    cpu_seconds,
    emit,
    note,
    run_standalone,
    sandbox_process,
    signed_url,
    stop_process,
)

CLIENT_PROCESSES = 2
THREADS_PER_CLIENT = 4
WARMUP_S = 1.0
MEASURE_S = 4.0
TARGET = 1000.0
MAX_SERVER_LIFETIME_S = 600.0


def reasons_body() -> bytes:
    """The sandbox's GetFailureReasons answer, as the trivial server's fixed body."""
    from airflow_seller_provider.sandbox import render, views
    from airflow_seller_provider.sandbox.seed import FAILURE_REASONS

    body = {"Reasons": {"Reason": [views.reason(r) for r in FAILURE_REASONS]}}
    return render.success("GetFailureReasons", "Reasons", body, "XML")[0]


# -- the trivial server (a child process) ---------------------------------------------------


def serve_trivial() -> int:
    body = reasons_body()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server((LOOPBACK, 0), Handler)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    print(f"trivial server listening on http://{LOOPBACK}:{server.server_address[1]}/", flush=True)
    deadline = time.monotonic() + MAX_SERVER_LIFETIME_S  # even if nobody stops it
    try:
        while not stop.wait(0.5) and time.monotonic() < deadline:
            pass
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
    return 0


# -- the load (a child process) ------------------------------------------------------------


def load(url: str, threads: int, warmup: float, seconds: float) -> int:
    """Hammer ``url`` from ``threads`` keep-alive sessions; print how many good answers
    arrived inside the measuring window (after ``warmup``, for ``seconds``)."""
    import requests

    start = time.monotonic() + 0.2
    window = (start + warmup, start + warmup + seconds)
    counts = [0] * threads
    errors = [0] * threads

    def worker(index: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < start:
                time.sleep(0.005)
            while True:
                now = time.monotonic()
                if now >= window[1]:
                    return
                try:
                    answer = session.get(url, timeout=10)
                    good = answer.status_code == 200 and b"<SuccessResponse" in answer.content
                except requests.RequestException:
                    good = False
                if window[0] <= time.monotonic() < window[1]:
                    if good:
                        counts[index] += 1
                    else:
                        errors[index] += 1

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=warmup + seconds + 30)
    print(json.dumps({"ok": sum(counts), "errors": sum(errors), "seconds": seconds}))
    return 0


def measure(url: str, server_pid: int | None) -> tuple[float, int, float | None]:
    """Requests/s served to CLIENT_PROCESSES x THREADS_PER_CLIENT keep-alive clients, the
    errors, and the server's CPU seconds per answer (over the whole load, warm-up included)."""
    import subprocess

    argv = [
        PYTHON,
        "-m",
        "benchmarks.sandbox_capacity",
        "--load",
        url,
        "--threads",
        str(THREADS_PER_CLIENT),
        "--warmup",
        str(WARMUP_S),
        "--seconds",
        str(MEASURE_S),
    ]
    clients = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(CLIENT_PROCESSES)
    ]
    cpu_before = cpu_seconds(server_pid) if server_pid else None
    ok = errors = 0
    try:
        for client in clients:
            out, _ = client.communicate(timeout=WARMUP_S + MEASURE_S + 60)
            report = json.loads(out.strip().splitlines()[-1])
            ok += report["ok"]
            errors += report["errors"]
    finally:
        for client in clients:
            stop_process(client)
    cpu_after = cpu_seconds(server_pid) if server_pid else None
    per_answer = None
    if cpu_before is not None and cpu_after is not None and ok:
        # Answers in the warm-up are not counted in ``ok``: scale them in by time.
        per_answer = (cpu_after - cpu_before) / (ok * (WARMUP_S + MEASURE_S) / MEASURE_S)
    return ok / MEASURE_S, errors, per_answer


def run() -> list[Result]:
    with sandbox_process("--orders", "20") as sandbox:
        url = signed_url(sandbox.url, "GetFailureReasons")
        sandbox_rate, sandbox_errors, sandbox_cpu = measure(url, sandbox.pid)
    argv = [PYTHON, "-m", "benchmarks.sandbox_capacity", "--trivial-server"]
    with child_process(argv, ready=r"listening on (http://\S+/)") as (server, trivial_url):
        trivial_rate, trivial_errors, trivial_cpu = measure(
            trivial_url + url.split("/", 3)[3], server.pid
        )
    if sandbox_errors or trivial_errors:
        note(f"errors: sandbox {sandbox_errors}, trivial server {trivial_errors}")
    result = Result(
        what=(
            f"sandbox capacity, signed GetFailureReasons, {CLIENT_PROCESSES} client processes x "
            f"{THREADS_PER_CLIENT} keep-alive sessions vs a trivial ThreadingHTTPServer"
        ),
        project=f"{sandbox_rate:,.0f} req/s",
        baseline=f"{trivial_rate:,.0f} req/s",
        ratio=sandbox_rate / trivial_rate,
        target=f">= {TARGET:,.0f} req/s",
        met=sandbox_rate >= TARGET,
    )
    emit([result])
    note(
        f"{MEASURE_S:g} s measured after {WARMUP_S:g} s of warm-up; clients and server share "
        "the machine's cores, so the clients' own CPU limits both rates"
    )
    if sandbox_cpu and trivial_cpu:
        note(
            f"server CPU per answer: sandbox {sandbox_cpu * 1e6:.0f} us, trivial server "
            f"{trivial_cpu * 1e6:.0f} us ({sandbox_cpu / trivial_cpu:.1f}x); one core (one GIL) "
            f"would serve at most ~{1 / sandbox_cpu:,.0f} vs ~{1 / trivial_cpu:,.0f} answers/s"
        )
    return [result]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sandbox_capacity")
    parser.add_argument("--trivial-server", action="store_true", help="(internal)")
    parser.add_argument("--load", metavar="URL", help="(internal) generate load on URL")
    parser.add_argument("--threads", type=int, default=THREADS_PER_CLIENT)
    parser.add_argument("--warmup", type=float, default=WARMUP_S)
    parser.add_argument("--seconds", type=float, default=MEASURE_S)
    args = parser.parse_args(argv)
    if args.trivial_server:
        return serve_trivial()
    if args.load:
        return load(args.load, args.threads, args.warmup, args.seconds)
    return run_standalone("6. Sandbox capacity", run)


if __name__ == "__main__":
    sys.exit(main())
