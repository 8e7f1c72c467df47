"""In a real browser: the status page of an account whose last run failed says FAILING and
why (screenshot: var/test-artifacts/export-status-failing.png)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from exports.models import ExportRun
from exports.run.outage import failure_message
from salesforce.client import TransientError
from tests.admin.conftest import log_in, screenshot
from tests.factories import (
    CRMSettingsFactory,
    ExportCursorFactory,
    ExportRecordFactory,
    ExportRunFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def failing_account():
    """Acme: 29 records exported, then the org went down; the last run failed."""
    account = CRMSettingsFactory(account__slug="acme", account__name="Acme").account
    records = ExportRecordFactory.create_batch(40, account=account)
    ExportCursorFactory(account=account, last_exported_id=records[28].id)
    for exported in (12, 17):
        ExportRunFactory(account=account, exported=exported, attempted=exported)
    refused = TransientError(
        "Could not reach the Salesforce login at https://acme.my.salesforce.com/services/"
        "oauth2/token (connection refused).",
        "CONNECTION",
    )
    reason = failure_message(refused, 7, 62, records[29].id, "acme")
    ExportRunFactory(account=account, outcome=ExportRun.Outcome.FAILED, message=reason)
    return account, reason


def test_status_page_says_failing_and_why(page, superuser):
    account, reason = failing_account()
    log_in(page, superuser.username)

    page.goto(f"/admin/exports/status/{account.slug}/")

    expect(page.locator("#state-badge")).to_have_text("failing")
    expect(page.locator("#last-run-message")).to_have_text(reason)
    expect(page.locator("#last-run")).to_contain_text("Once the cause is fixed")
    expect(page.locator("svg.runs-chart g.run")).to_have_count(3)
    screenshot(page, "export-status-failing")

    page.goto("/admin/exports/status/")
    expect(page.locator("td.state-failing")).to_have_text("failing")
