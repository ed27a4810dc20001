"""Notifications: what each notice says (counts, links, never a secret), sending them through
Airflow's real smtp and slack notifiers to servers on 127.0.0.1, a channel that fails
never failing anything, and the approvers setting."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_seller_provider.short_stock.notifications import (
    FAILED,
    SENT,
    approval_notice,
    digest_notice,
    send,
    trouble_notice,
)
from airflow_seller_provider.short_stock.run_policy import run_settings
from airflow_seller_provider.short_stock.settings import SettingsError, check_settings

from ..receivers import html_of, receivers

SECRET = "sk-live-NEVER-SHOWN-42"
REQUEST = {
    "required": True,
    "items": 12,
    "corrections": 0,
    "timeout_minutes": 60.0,
    "subject": "Approve canceling 12 short order item(s)",
    "report": "## Seller Center cancellations\n\n| Business unit | Short items |\n"
    "|---|---:|\n| FACL | 12 |\n",
}
SUMMARY: dict[str, Any] = {
    "canceled": 7,
    "would_cancel": 0,
    "failed": 1,
    "no_longer_pending": 2,
    "failures": [{"order_item_id": 99, "code": "E021", "message": "OMS"}],
    "connections": {
        "seller_center_cl": {
            "short": 10,
            "canceled": 7,
            "failed": 1,
            "short_by_unit": {"FACL": 6, "FACO": 4},
            "status": "planned",
        }
    },
}


def test_the_approval_notice_says_what_until_when_and_where():
    deadline = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
    link = "http://airflow.example/dags/d/runs/r/tasks/t/required_actions?map_index=0"
    notice = approval_notice(REQUEST, conn_id="seller_center_cl", deadline=deadline, link=link)
    assert "12 item(s)" in notice.subject and "seller_center_cl" in notice.subject
    assert "2026-12-06 09:30 UTC" in notice.subject
    assert link in notice.text and "| FACL | 12 |" in notice.text
    assert "<table>" in notice.html() and "<td>FACL</td>" in notice.html()


def test_the_digest_counts_per_connection_and_unit_and_links_the_run():
    notice = digest_notice(SUMMARY, dag_id="shop", link="http://a/dags/shop/runs/r1", dry_run=False)
    assert notice is not None
    assert notice.subject == "[Seller Center] shop: canceled 7 order item(s)"
    for text in (
        "| seller_center_cl | FACL | 6 | 7 | 1 |",
        "| seller_center_cl | FACO | 4 |",
        "item 99: E021",
        "http://a/dags/shop/runs/r1",
        "no longer pending: 2",
    ):
        assert text in notice.text, notice.text
    assert (
        digest_notice({**SUMMARY, "canceled": 0}, dag_id="shop", link=None, dry_run=False) is None
    )
    dry = digest_notice({**SUMMARY, "would_cancel": 3}, dag_id="shop", link=None, dry_run=True)
    assert dry is not None and "dry run" in dry.subject and "would cancel 3" in dry.subject


def test_trouble_says_why_and_what_was_held():
    summary = {"connections": {"c": {"status": "held", "short": 5}}}
    notice = trouble_notice(
        summary, "the cancellations were rejected", dag_id="shop", link="http://a", dry_run=False
    )
    assert "needs attention" in notice.subject
    assert "rejected" in notice.text and "5 short item(s)" in notice.text
    dry = trouble_notice(None, "x", dag_id="shop", link=None, dry_run=True)
    assert "dry run" in dry.subject


@pytest.fixture
def servers(monkeypatch):
    """An SMTP server and a Slack webhook receiver on 127.0.0.1, with the Airflow
    connections that reach them (the webhook's token is the secret)."""
    with receivers(SECRET) as (box, slack, port, webhook):
        monkeypatch.setenv(
            "AIRFLOW_CONN_TEST_SMTP",
            json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": port,
                    "extra": {
                        "disable_tls": True,
                        "disable_ssl": True,
                        "from_email": "a@example.com",
                    },
                }
            ),
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_TEST_SLACK",
            json.dumps({"conn_type": "slackwebhook", "password": webhook}),
        )
        yield box.mails, slack, port


def context() -> dict[str, Any]:
    """What a task's context gives the notifiers."""
    from airflow_seller_provider.compat import DAG

    return {"dag": DAG(dag_id="shop", schedule=None)}


SETTINGS = {
    "notify_emails": ["ops@example.com", "lead@example.com"],
    "notify_smtp_conn_id": "test_smtp",
    "notify_slack_conn_id": "test_slack",
}


def test_notices_go_through_airflows_notifiers_and_carry_no_secret(servers):
    mails, slack, _ = servers
    notice = digest_notice(SUMMARY, dag_id="shop", link="http://a/r", dry_run=False)
    assert notice is not None
    assert send(notice, SETTINGS, context()) == {"email": SENT, "slack": SENT}
    ((to, mail),) = mails
    assert sorted(to) == ["lead@example.com", "ops@example.com"]
    assert mail["Subject"] == notice.subject
    raw = html_of(mail)
    assert "<td>seller_center_cl</td>" in raw and "http://a/r" in raw
    (payload,) = slack
    assert notice.subject in payload["text"] and "| seller_center_cl | FACL |" in payload["text"]
    assert SECRET not in raw and SECRET not in json.dumps(payload)


def test_a_channel_that_fails_never_fails_anything(servers, caplog, monkeypatch):
    mails, slack, port = servers
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEST_SMTP",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": 1,  # nothing listens there
                "password": SECRET,
                "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 2, "retry_limit": 0},
            }
        ),
    )
    sent: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        "airflow_seller_provider.metrics.record_notification",
        lambda conn_id, kind, channel, outcome: sent.append((kind, channel, outcome)),
    )
    notice = trouble_notice(None, "boom", dag_id="shop", link=None, dry_run=False)
    assert send(notice, SETTINGS, context()) == {"email": FAILED, "slack": SENT}
    assert ("trouble", "email", "failed") in sent and ("trouble", "slack", "sent") in sent
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("airflow_seller")]
    assert any("Could not send the trouble notice by email" in m for m in ours), ours
    assert not any(SECRET in m for m in ours)


def test_no_channel_no_notice():
    notice = trouble_notice(None, "boom", dag_id="shop", link=None, dry_run=False)
    assert send(notice, {"notify_emails": [], "notify_slack_conn_id": None}, {}) == {}


@pytest.mark.parametrize(
    "value,named",
    [
        ([""], "approvers=['']"),
        (["  "], "approvers=['  ']"),
        ([7], "approvers=[7]"),
        ("ops", "approvers='ops'"),
    ],
)
def test_approvers_must_be_user_ids(value, named):
    with pytest.raises(SettingsError, match=re.escape(named) + ".*Airflow user ids"):
        check_settings({"approvers": value}, hitl_available=True)


def test_a_run_may_only_narrow_the_approvers():
    author = check_settings({"approvers": ["alice", "bob"]}, hitl_available=True)
    assert run_settings(author, {"approvers": ["alice"]}, hitl_available=True)["approvers"] == [
        "alice"
    ]
    for wider in (["mallory"], ["alice", "mallory"], []):
        with pytest.raises(SettingsError, match="approvers.*loosen"):
            run_settings(author, {"approvers": wider}, hitl_available=True)
    anyone = check_settings({}, hitl_available=True)
    assert run_settings(anyone, {"approvers": ["carol"]}, hitl_available=True)["approvers"] == [
        "carol"
    ]


def test_notification_targets_are_the_authors():
    author = check_settings({}, hitl_available=True)
    for name, value in (("notify_emails", ["x@evil.example"]), ("notify_slack_conn_id", "mine")):
        with pytest.raises(SettingsError, match=f"{name} is set by the DAG's author"):
            run_settings(author, {name: value}, hitl_available=True)
