"""Telling people where they already look: e-mail and Slack, through Airflow's notifiers.

Three notices: an approval is requested (the report, the deadline, a link to the run's
Required actions page), a run canceled items (a digest per connection and unit), and
trouble (a run failed, or an approval was rejected or not given: what was held and why).
Mail goes through the smtp provider's ``SmtpNotifier`` (``notify_emails``, over
``notify_smtp_conn_id`` or ``smtp_default``), Slack through the slack provider's
``SlackWebhookNotifier`` (``notify_slack_conn_id``). A notice that cannot be sent never fails
the run: it is logged and counted (``seller_center.notifications``). The messages are built
from counts, ids and the plan's report only: never a key, a password or a connection's
extra. The notifiers' ``notify`` is called directly, so nothing in a message is rendered as
a template.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

APPROVAL, DIGEST, TROUBLE = "approval_requested", "canceled", "trouble"
EMAIL, SLACK = "email", "slack"
SENT, FAILED = "sent", "failed"
PREFIX = "[Seller Center]"
ALL = "all"
MAX_TEXT = 30_000
"""Characters of a message's body at most (Slack refuses longer texts)."""


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str
    subject: str
    text: str
    """Markdown."""
    conn_id: str = ALL
    """The connection it is about (``all``: a run over several)."""

    def html(self) -> str:
        from markdown_it import MarkdownIt

        return MarkdownIt("commonmark").enable("table").render(self.text)


def base_url() -> str | None:
    """This Airflow's own address, as its configuration gives it ([api] base_url on 3.x,
    [webserver] base_url on 2.11)."""
    from airflow_seller_provider.compat import AIRFLOW_V_3_0_PLUS, conf

    section = "api" if AIRFLOW_V_3_0_PLUS else "webserver"
    value = conf.get(section, "base_url", fallback=None)
    return str(value).rstrip("/") if value else None


def run_link(dag_id: str, run_id: str) -> str | None:
    """The run's page in this Airflow's UI."""
    from airflow_seller_provider.compat import AIRFLOW_V_3_0_PLUS

    base = base_url()
    if not base:
        return None
    if AIRFLOW_V_3_0_PLUS:
        return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return f"{base}/dags/{quote(dag_id, safe='')}/grid?dag_run_id={quote(run_id, safe='')}"


def _dry(dry_run: bool) -> str:
    return " (dry run)" if dry_run else ""


def approval_notice(
    request: Mapping[str, Any],
    *,
    conn_id: str,
    deadline: datetime,
    link: str | None,
) -> Notice:
    """An approval waits: what it asks, until when, and where to answer."""
    items = int(request.get("items") or 0)
    fixes = int(request.get("corrections") or 0)
    what = f"cancel {items} item(s)" + (f", lower {fixes} stock figure(s)" if fixes else "")
    when = deadline.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"An approval is needed on connection `{conn_id}`: {what}. Nothing is sent before a "
        f"person approves; with no answer by **{when}** nothing is canceled.",
        "",
        f"**Answer here:** {link}" if link else "**Answer** on the run's Required actions page.",
        "",
        str(request.get("report") or ""),
    ]
    return Notice(
        APPROVAL,
        f"{PREFIX} Approval needed: {what} on {conn_id} (by {when})",
        "\n".join(lines),
        conn_id,
    )


def _per_unit(summary: Mapping[str, Any]) -> list[str]:
    rows = ["| Connection | Unit | Short | Canceled | Failed |", "|---|---|---:|---:|---:|"]
    for conn_id, conn in sorted((summary.get("connections") or {}).items()):
        units = conn.get("short_by_unit") or {"": conn.get("short", 0)}
        for unit, short in sorted(units.items()):
            rows.append(
                f"| {conn_id} | {unit or '-'} | {short} | "
                + (
                    f"{conn.get('canceled', 0)} | {conn.get('failed', 0)} |"
                    if unit == min(units)
                    else "| |"
                )
            )
    return rows


def digest_notice(
    summary: Mapping[str, Any], *, dag_id: str, link: str | None, dry_run: bool
) -> Notice | None:
    """A run canceled items (a dry run: would have): the counts, failures, a link."""
    count = int(summary.get("would_cancel" if dry_run else "canceled") or 0)
    if not count:
        return None
    verb = "would cancel" if dry_run else "canceled"
    lines = [
        f"The short-stock run of `{dag_id}` {verb} {count} order item(s) with reason "
        f"SHORTAGE{_dry(dry_run)}. Failed: {summary.get('failed', 0)}; no longer pending: "
        f"{summary.get('no_longer_pending', 0)}.",
        "",
        *_per_unit(summary),
    ]
    failures = list(summary.get("failures") or [])[:20]
    if failures:
        lines += ["", "**Failures:**"]
        lines += [f"- item {f.get('order_item_id')}: {f.get('code')}" for f in failures]
    if link:
        lines += ["", f"**The run:** {link}"]
    return Notice(
        DIGEST,
        f"{PREFIX}{_dry(dry_run)} {dag_id}: {verb} {count} order item(s)",
        "\n".join(lines),
        _about(summary),
    )


def trouble_notice(
    summary: Mapping[str, Any] | None,
    problem: str,
    *,
    dag_id: str,
    link: str | None,
    dry_run: bool,
) -> Notice:
    """A run failed, or an approval was rejected or not given: what was held, and why."""
    held = 0
    for conn in ((summary or {}).get("connections") or {}).values():
        if conn.get("status") in ("held", "blocked"):
            held += int(conn.get("short") or 0)
    lines = [
        f"The short-stock run of `{dag_id}` did not complete{_dry(dry_run)}.",
        "",
        f"**Why:** {problem}",
    ]
    if held:
        lines += ["", f"**Held, not canceled:** {held} short item(s)."]
    if link:
        lines += ["", f"**The run:** {link}"]
    return Notice(
        TROUBLE,
        f"{PREFIX}{_dry(dry_run)} {dag_id}: the run needs attention",
        "\n".join(lines),
        _about(summary or {}),
    )


def _about(summary: Mapping[str, Any]) -> str:
    """The one connection a run served, else ``all``."""
    connections = list(summary.get("connections") or {})
    return connections[0] if len(connections) == 1 else ALL


def send(notice: Notice, settings: Mapping[str, Any], context: Any) -> dict[str, str]:
    """Send ``notice`` on every channel the settings name; never raises. Returns the outcome
    per channel (``sent`` or ``failed``)."""
    from airflow_seller_provider.metrics import record_notification

    outcomes: dict[str, str] = {}
    text = notice.text[:MAX_TEXT]
    emails = list(settings.get("notify_emails") or [])
    if emails:
        outcomes[EMAIL] = _attempt(EMAIL, notice, lambda: _email(notice, emails, settings, context))
    slack = settings.get("notify_slack_conn_id")
    if slack:
        outcomes[SLACK] = _attempt(
            SLACK, notice, lambda: _slack(f"*{notice.subject}*\n{text}", str(slack), context)
        )
    for channel, outcome in outcomes.items():
        record_notification(notice.conn_id, notice.kind, channel, outcome)
    return outcomes


def _attempt(channel: str, notice: Notice, action: Any) -> str:
    try:
        action()
    except Exception as exc:  # a notice never fails the run
        log.warning(
            "Could not send the %s notice by %s (%s): %s",
            notice.kind,
            channel,
            type(exc).__name__,
            exc,
        )
        return FAILED
    log.info("Sent the %s notice by %s: %s", notice.kind, channel, notice.subject)
    return SENT


def _email(notice: Notice, to: list[str], settings: Mapping[str, Any], context: Any) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    body = notice.html()
    SmtpNotifier(
        to=to,
        subject=notice.subject,
        html_content=f"<html><body>{body}</body></html>",
        smtp_conn_id=str(settings.get("notify_smtp_conn_id") or "smtp_default"),
    ).notify(context)


def _slack(text: str, conn_id: str, context: Any) -> None:
    try:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
    except ImportError as exc:
        raise RuntimeError(
            "notify_slack_conn_id needs Airflow's slack provider: pip install "
            "'airflow-seller-provider[slack]'"
        ) from exc
    SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=text).notify(context)
