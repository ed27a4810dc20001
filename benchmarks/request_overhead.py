"""2. Per-request overhead: one client call against one bare ``requests`` GET, same server.

Project: ``SellerCenterClient.get_failure_reasons()`` (sign with a fresh Timestamp, pace
(no limit here), send, read, parse the envelope, build the models). Baseline:
``requests.Session.get`` of a GetFailureReasons URL signed once before the loop (valid for
the sandbox's 5-minute window), reading the body and nothing more, so the server does the
same work (signature check, action, XML rendering) for both. Out-of-process sandbox, zero
latency, no rate limit; calls alternate in blocks, the median per call is compared.
Target: at most 1.2x.
"""

from __future__ import annotations

import time

from benchmarks.common import (
    USER_AGENT,
    Result,
    emit,
    median,
    note,
    run_standalone,
    sandbox_process,
    signed_url,
)

BLOCKS = 20
PER_BLOCK = 100
WARMUP = 50
TIME_BUDGET_S = 40.0
TARGET = 1.2


def run() -> list[Result]:
    import requests

    with sandbox_process("--orders", "20") as sandbox:
        client = sandbox.client()
        session = requests.Session()
        try:
            url = signed_url(sandbox.url, "GetFailureReasons")
            headers = {"User-Agent": USER_AGENT, "Accept": "application/xml"}

            def bare() -> None:
                answer = session.get(url, headers=headers, timeout=30)
                body = answer.content
                if answer.status_code != 200 or b"<SuccessResponse" not in body[:200]:
                    raise RuntimeError(f"bare GET failed: HTTP {answer.status_code} {body[:200]!r}")

            def project() -> None:
                if not client.get_failure_reasons():
                    raise RuntimeError("GetFailureReasons returned no reasons")

            for _ in range(WARMUP):
                bare()
                project()
            times: dict[str, list[float]] = {"project": [], "baseline": []}
            deadline = time.monotonic() + TIME_BUDGET_S
            blocks = 0
            for block in range(BLOCKS):
                if block >= 4 and time.monotonic() > deadline:
                    break
                order = (("project", project), ("baseline", bare))
                for name, func in order if block % 2 == 0 else order[::-1]:
                    record = times[name].append
                    for _ in range(PER_BLOCK):
                        started = time.perf_counter()
                        func()
                        record(time.perf_counter() - started)
                blocks += 1
        finally:
            session.close()
            client.close()
    project_s, baseline_s = median(times["project"]), median(times["baseline"])
    result = Result(
        what="one GetFailureReasons call: client (sign, send, parse) vs bare Session.get, "
        "0 ms latency",
        project=f"{project_s * 1e6:.0f} us/call",
        baseline=f"{baseline_s * 1e6:.0f} us/call",
        ratio=project_s / baseline_s,
        target=f"<= {TARGET:g}x",
        met=project_s / baseline_s <= TARGET,
    )
    emit([result])
    note(
        f"median of {len(times['project'])} calls each ({blocks} alternating blocks of "
        f"{PER_BLOCK}); the client adds {(project_s - baseline_s) * 1e6:.0f} us per call"
    )
    return [result]


def main() -> int:
    return run_standalone("2. Per-request overhead", run)


if __name__ == "__main__":
    raise SystemExit(main())
