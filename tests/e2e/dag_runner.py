"""A warm ``airflow dags test``: one long-lived process per test worker runs the CLI's own
``dags test`` command again and again, so Airflow's imports and its in-process execution
API are built once instead of once per run (about 10 CPU-seconds of every cold run).

Each run is what ``airflow dags test`` does in a fresh process: the same argument parser and
command function (``dag_test``), a fresh DagBag (the DAG file is parsed again), the
connections and deployment settings of that run only (``AIRFLOW_CONN_*`` and
``AIRFLOW__SELLER_CENTER__*``; the others are removed), a fresh secrets
masker, and its whole output (fd 1 and 2, so Airflow's log lines too) in its own file. The
exit code follows the CLI: 0, or 1 when the run failed (``SystemExit("DagRun failed")``),
whose message is printed as the interpreter would.

Only runs whose environment differs from the process's in those variables alone come
here; ``tests/e2e/helpers.run_dag`` starts a cold process for any other (a log level, the
metrics settings, another DAGs folder), and for every run when ``ASP_COLD_DAG_RUNS=1``.

Protocol (run as ``python -m tests.e2e.dag_runner``): one JSON request per line on stdin,
``{"argv": [...], "connections": {name: value}, "log": path}``; one JSON reply per line on
the stdout it was started with, ``{"code": n}``; ``{"ready": true}`` first.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, TextIO


def _reset_secrets_maskers() -> None:
    """Forget the secrets earlier runs registered, as a fresh process would."""
    try:  # Airflow 3: the core's and the task SDK's maskers are separate instances.
        from airflow._shared.secrets_masker import reset_secrets_masker as core_reset
        from airflow.sdk._shared.secrets_masker import reset_secrets_masker as sdk_reset
    except ImportError:  # Airflow 2: one masker, a filter on the task logger.
        from airflow.utils.log.secrets_masker import _secrets_masker

        masker = _secrets_masker()
        masker.patterns = set()
        masker.replacer = None
    else:
        core_reset()
        sdk_reset()


PER_RUN = ("AIRFLOW_CONN_", "AIRFLOW__SELLER_CENTER__")
"""The variables each run brings: its connections, the short-stock deployment settings."""


def _use_connections(connections: dict[str, str]) -> None:
    for name in [k for k in os.environ if k.startswith(PER_RUN)]:
        del os.environ[name]
    os.environ.update(connections)


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter makes of an uncaught SystemExit (and prints, for a message)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _run(parser: Any, request: dict[str, Any], quiet_fd: int) -> int:
    _use_connections(request["connections"])
    _reset_secrets_maskers()
    with open(request["log"], "w") as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            args = parser.parse_args(request["argv"])
            try:
                args.func(args)
                return 0
            except SystemExit as exc:
                return _exit_code(exc)
            except BaseException:
                traceback.print_exc()
                return 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(quiet_fd, 1)
            os.dup2(quiet_fd, 2)


def main(requests: TextIO = sys.stdin) -> None:
    # Replies go to the stdout this process was started with; anything else written
    # between runs goes to the file named by argv[1] (or nowhere).
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    quiet = open(sys.argv[1] if len(sys.argv) > 1 else os.devnull, "a")  # noqa: SIM115
    os.dup2(quiet.fileno(), 1)
    os.dup2(quiet.fileno(), 2)

    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    replies.write(json.dumps({"ready": True}) + "\n")
    for line in requests:
        if line.strip():
            code = _run(parser, json.loads(line), quiet.fileno())
            replies.write(json.dumps({"code": code}) + "\n")


if __name__ == "__main__":
    main()
