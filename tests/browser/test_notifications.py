"""Approvers and notifications on a live Airflow (issue 30), under ``make test-browser``.

api-server, scheduler, dag-processor and triggerer (SQLite, LocalExecutor, the simple auth
manager) run the real ``cancel_short_stock_items`` DAG with the deployment's settings
``approvers=["admin"]``, ``notify_emails`` through an ``smtp`` connection to an SMTP server
this test runs on 127.0.0.1 (aiosmtpd), and ``notify_slack_conn_id`` to a Slack webhook
receiver it runs there too. A run trips the brake and waits for approval:

- the SMTP server receives the approval request (the count, the connection, a link to the
  run's Required actions page in this Airflow), and the Slack receiver its payload;
- ``bystander``, an admin like ``admin`` but not an approver, is refused (403) by Airflow's
  own human-in-the-loop API, and in the browser whatever the page shows them cancels
  nothing;
- ``admin``'s Approve cancels exactly the planned items (``expected_short``, an oracle apart
  from the project's code), and the run's digest arrives by mail and on Slack.

The approval mail, as the approver receives it, is rendered in Chromium for the docs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_seller_provider.sandbox.testing import Sandbox, run_sandbox

from ..e2e.helpers import expected_short, newly_canceled
from ..receivers import Mailbox, html_of
from ..receivers import receivers as running_receivers
from .conftest import BYSTANDER, Airflow, airflow_components

RUN = os.environ.get("RUN_BROWSER_TESTS") == "1"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not RUN, reason="browser test: `make test-browser` (RUN_BROWSER_TESTS=1)"),
]
if RUN:
    from playwright.sync_api import Error as PlaywrightError

    from .steps import log_in
    from .test_approval import (
        APPROVAL_TASK,
        DAG_FILE,
        DAG_ID,
        POOL,
        run_failure,
        trigger,
        wait_for,
        wait_for_approval,
        wait_for_run_end,
    )

REPO = Path(__file__).resolve().parents[2]
MAIL_SCREENSHOT = REPO / "docs" / "approval-mail.png"
USER_ID = "notify-test@example.com"
ORDERS, SEED = 60, 1
APPROVER = "admin"
TO = ["ops@example.com", "lead@example.com"]
PARSE_TIMEOUT_S = 180
RUN_END_TIMEOUT_S = 240
MAIL_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[Mailbox, list[dict[str, Any]], int, str]]:
    with running_receivers(secrets.token_hex(8)) as running:
        yield running


@pytest.fixture(scope="module")
def shop() -> Iterator[Sandbox]:
    with run_sandbox(
        user_id=USER_ID,
        api_key=secrets.token_urlsafe(16),
        orders=ORDERS,
        seed=SEED,
        negative_stock="show",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def told(airflow: Airflow, shop: Sandbox, receivers, artifacts: Path) -> Iterator[Airflow]:
    """The scheduler, dag-processor and triggerer with the deployment's settings (approvers,
    mail and Slack), the DAG parsed with them, unpaused."""
    assert airflow.dags is not None
    _, _, smtp_port, webhook = receivers
    shutil.copy(DAG_FILE, airflow.dags / "cancel_short_stock_items.py")
    env = {
        "AIRFLOW_CONN_SELLER_CENTER_DEFAULT": shop.airflow_conn_json(),
        "AIRFLOW__SELLER_CENTER__SHORT_STOCK_SETTINGS": json.dumps(
            {
                "approvers": [APPROVER],
                "notify_emails": TO,
                "notify_smtp_conn_id": "ops_mail",
                "notify_slack_conn_id": "ops_slack",
            }
        ),
        "AIRFLOW_CONN_OPS_MAIL": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "extra": {
                    "disable_tls": True,
                    "disable_ssl": True,
                    "from_email": "airflow@example.com",
                },
            }
        ),
        "AIRFLOW_CONN_OPS_SLACK": json.dumps({"conn_type": "slackwebhook", "password": webhook}),
    }
    names = ("scheduler", "dag-processor", "triggerer")
    with airflow_components(airflow, artifacts, env, names):
        answer = airflow.api(
            "POST", "api/v2/pools", json={"name": POOL, "slots": 2, "description": "test"}
        )
        assert answer.status_code in (200, 201, 409), answer.text

        def parsed_with_approvers() -> bool:
            details = airflow.api("GET", f"api/v2/dags/{DAG_ID}/details")
            if details.status_code != 200:
                return False
            params = details.json().get("params") or {}
            return (params.get("approvers") or {}).get("value") == [APPROVER]

        wait_for(parsed_with_approvers, PARSE_TIMEOUT_S, f"{DAG_ID} parsed with approvers", airflow)
        answer = airflow.api("PATCH", f"api/v2/dags/{DAG_ID}", json={"is_paused": False})
        assert answer.status_code == 200, answer.text
        yield airflow


def hitl_path(run_id: str) -> str:
    return f"api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK}/0/hitlDetails"


def wait_mail(box: Mailbox, pattern: str, airflow: Airflow) -> tuple[list[str], Any]:
    found = wait_for(lambda: box.find(pattern), MAIL_TIMEOUT_S, f"a mail like {pattern!r}", airflow)
    assert found is not None
    return found


def test_only_the_approver_answers_and_the_people_are_told(page, told, shop, receivers, artifacts):
    box, slack, _, webhook = receivers
    state = shop.state()
    planned = expected_short(state, USER_ID)
    assert len(planned) > 1
    run_id = trigger(told, "notify")
    wait_for_approval(told, run_id)

    # The approval request, by mail and on Slack: the count, the connection, the link.
    to, mail = wait_mail(box, rf"Approval needed: cancel {len(planned)} item\(s\)", told)
    assert sorted(to) == sorted(TO)
    assert "seller_center_default" in str(mail["Subject"])
    body = html_of(mail)
    link = f"{told.url}dags/{DAG_ID}/runs/{run_id}/tasks/{APPROVAL_TASK}/required_actions"
    assert link in body.replace("&amp;", "&"), body
    assert "<table>" in body
    assert any(f"cancel {len(planned)} item(s)" in p["text"] for p in slack), slack
    for secret in (shop.api_key, webhook):
        assert secret not in body and secret not in json.dumps(slack)
    write_mail_screenshot(page, body, artifacts)

    # Not an approver: Airflow itself refuses the answer.
    bystander = told.as_user(BYSTANDER)
    refused = bystander.api(
        "PATCH", hitl_path(run_id), json={"chosen_options": ["Approve"], "params_input": {}}
    )
    assert refused.status_code == 403, refused.text
    # ... and in the browser, whatever the page shows them cancels nothing.
    log_in(page, bystander)
    open_required_action_as_anyone(page, bystander, run_id)
    time.sleep(5)
    assert shop.cancellation_counts() == {}
    waiting = told.api("GET", hitl_path(run_id)).json()
    assert not waiting.get("response_received"), waiting
    page.screenshot(path=str(artifacts / "bystander-view.png"), full_page=True)

    # The approver's Approve cancels exactly the planned items.
    approved = told.api(
        "PATCH", hitl_path(run_id), json={"chosen_options": ["Approve"], "params_input": {}}
    )
    assert approved.status_code == 200, approved.text
    run = wait_for_run_end(told, run_id, RUN_END_TIMEOUT_S)
    assert run["state"] == "success", run_failure(told, run_id)
    assert newly_canceled(state, shop.state()) == planned
    assert set(shop.cancellation_counts()) == planned

    # The run's digest: the count and a link to the run.
    _, digest = wait_mail(box, rf"canceled {len(planned)} order item\(s\)", told)
    assert f"{told.url}dags/{DAG_ID}/runs/{run_id}" in html_of(digest)
    assert any(f"canceled {len(planned)} order item(s)" in p["text"] for p in slack), slack


def open_required_action_as_anyone(page, airflow: Airflow, run_id: str) -> None:
    """The approval's page, as the link in the mail leads a user who may look but not
    answer; a click on Approve wherever the page offers one (it may not)."""
    page.goto(
        f"{airflow.url}dags/{DAG_ID}/runs/{run_id}/tasks/{APPROVAL_TASK}/mapped/0/required_actions"
    )
    page.wait_for_load_state("networkidle")
    button = page.get_by_role("button", name="Approve")
    try:
        if button.count() and button.first.is_enabled():
            button.first.click(timeout=10_000)
    except PlaywrightError:  # the page took the button away: nothing to click
        pass


def write_mail_screenshot(page, body: str, artifacts: Path) -> None:
    """The approval mail as its reader sees it, for the docs."""
    page.set_content(
        "<html><body style='font-family: sans-serif; max-width: 1000px; margin: 24px'>"
        f"{body}</body></html>"
    )
    png = page.screenshot(full_page=True)
    (artifacts / "approval-mail.png").write_bytes(png)
    MAIL_SCREENSHOT.write_bytes(png)


def test_the_mail_server_is_really_there(receivers):
    """The receivers answer on 127.0.0.1 (so a missing mail is the DAG's, not theirs)."""
    _, _, port, webhook = receivers
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert sock.recv(100).startswith(b"220")
    assert requests.post(webhook, json={"text": "ping"}, timeout=5).status_code == 200
