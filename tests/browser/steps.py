"""Steps shared by the browser tests (imported only under ``make test-browser``)."""

from __future__ import annotations

from playwright.sync_api import expect


def log_in(page, airflow) -> None:
    """Sign in through the simple auth manager's form (the page fixture starts signed out)."""
    page.goto(airflow.url)
    expect(page.get_by_role("heading", name="Sign into Airflow")).to_be_visible()
    page.get_by_label("Username").fill(airflow.username)
    page.get_by_label("Password").fill(airflow.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Admin")).to_be_visible()
