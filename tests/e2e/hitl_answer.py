"""Answer (or time out) the example DAG's approval request in the metadata DB of a running
``airflow dags test``: the test seam Airflow 3.3 offers for human-in-the-loop tasks.

``dags test`` keeps a run alive while a task waits in ``awaiting_input`` and resumes it
once a response is recorded "from outside" (see ``airflow.sdk.definitions.dag``). This
script is that outside: it waits for the request to appear, then either records an answer
through the very function behind the REST API's ``PATCH .../hitl-details`` (the route the
Required Actions page calls), or, for ``--timeout``, waits past the deadline and runs the
scheduler's own sweep (``SchedulerJobRunner.check_awaiting_input_timeouts``).

Run in its own process with the test's environment (same AIRFLOW_HOME and DB):
``python -m tests.e2e.hitl_answer Approve|Reject|--timeout [--wait 300]``. Prints one
JSON line: the request it saw (subject, body) and what it did.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


class _User:
    """The respondent, as the route's auth dependency would hand it over."""

    def get_id(self) -> str:
        return "ops-approver"

    def get_name(self) -> str:
        return "ops-approver"


def _waiting(session: Any) -> Any:
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    return session.execute(
        select(TaskInstance, HITLDetail)
        .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
        .where(TaskInstance.state == TaskInstanceState.AWAITING_INPUT)
    ).first()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("option", nargs="?", help="Approve or Reject")
    parser.add_argument("--timeout", action="store_true", help="let the deadline pass")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for a request")
    args = parser.parse_args(argv)

    from airflow.utils.session import create_session

    deadline = time.monotonic() + args.wait
    while True:
        with create_session() as session:
            row = _waiting(session)
            if row is not None:
                ti, detail = row
                seen = {
                    "dag_id": ti.dag_id,
                    "run_id": ti.run_id,
                    "task_id": ti.task_id,
                    "map_index": ti.map_index,
                    "subject": detail.subject,
                    "body": detail.body,
                    "options": detail.options,
                    "timeout_at": ti.trigger_timeout.isoformat() if ti.trigger_timeout else None,
                }
                timeout = ti.trigger_timeout
                break
        if time.monotonic() > deadline:
            print(json.dumps({"error": f"no approval request within {args.wait:g} s"}))
            return 1
        time.sleep(0.5)

    if args.timeout:
        from airflow.jobs.job import Job
        from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
        from airflow.utils import timezone

        timeout_at = timeout
        while timeout_at is not None and timezone.utcnow() <= timeout_at:
            time.sleep(0.5)
        SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()
        seen["did"] = "timeout sweep"
    else:
        from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
        from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail

        with create_session() as session:
            update_hitl_detail(
                dag_id=seen["dag_id"],
                dag_run_id=seen["run_id"],
                task_id=seen["task_id"],
                update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[args.option]),
                user=_User(),
                session=session,
                map_index=seen["map_index"],
            )
        seen["did"] = f"answered {args.option}"
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
