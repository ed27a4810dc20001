"""``python -m benchmarks`` (``make bench``): every benchmark, one after another, then the
whole results table. ``python -m benchmarks NAME ...`` runs only those (names below)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable

from benchmarks import (
    cancel_throughput,
    dag_parse,
    large_scan,
    parsing,
    request_overhead,
    sandbox_capacity,
    scan,
)
from benchmarks.common import HEADER, Result, print_machine

BENCHMARKS: dict[str, tuple[str, Callable[[], list[Result]]]] = {
    "cancel_throughput": ("1. Cancel throughput", cancel_throughput.run),
    "request_overhead": ("2. Per-request overhead", request_overhead.run),
    "parsing": ("3. Parsing", parsing.run),
    "scan": ("4. Scan", scan.run),
    "dag_parse": ("5. DAG parse", dag_parse.run),
    "sandbox_capacity": ("6. Sandbox capacity", sandbox_capacity.run),
    "large_scan": ("7. Large-seller scan", large_scan.run),
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    print_machine()
    print(f"command: python -m benchmarks {' '.join(argv)}".rstrip(), flush=True)
    started = time.perf_counter()
    results: list[Result] = []
    failed: list[str] = []
    for name in names:
        title, run = BENCHMARKS[name]
        print(f"\n## {title}\n", flush=True)
        print(HEADER, flush=True)
        begun = time.perf_counter()
        try:
            results.extend(run())
        except Exception:  # one broken benchmark must not hide the others' results
            failed.append(name)
            print(f"{name} FAILED:\n{traceback.format_exc()}", flush=True)
        print(f"\n({title}: {time.perf_counter() - begun:.1f} s)", flush=True)
    print("\n## All results\n")
    print(HEADER)
    for result in results:
        print(result.row())
    met = sum(r.met for r in results)
    print(
        f"\n{met} of {len(results)} targets met; "
        f"{'failed to run: ' + ', '.join(failed) + '; ' if failed else ''}"
        f"total {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
