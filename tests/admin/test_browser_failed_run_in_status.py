"""In a real browser: a failed run is drawn in the status page's chart (a cross in the
failed colour, its slot shaded) and its table row says "failed" with the run's reason
(screenshot: var/test-artifacts/export-status-failed-run.png)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from exports.models import ExportRun
from tests.admin.conftest import log_in, screenshot
from tests.factories import CRMSettingsFactory, ExportRunFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = (
    "Salesforce login for account acme failed (client_credentials flow at "
    "https://acme.my.salesforce.com/services/oauth2/token): invalid_client: invalid client "
    "credentials. Check the client id and the secrets of this flow in the account's CRM "
    "settings."
)


def test_a_failed_run_shows_in_the_chart_and_the_table(page, superuser):
    account = CRMSettingsFactory(account__slug="acme", account__name="Acme").account
    ExportRunFactory(account=account, exported=120, attempted=120)
    failed = ExportRunFactory(account=account, outcome=ExportRun.Outcome.FAILED, message=REASON)
    ExportRunFactory(account=account, exported=80, attempted=80)
    log_in(page, superuser.username)

    page.goto(f"/admin/exports/status/{account.slug}/")

    mark = page.locator(f'svg.runs-chart g.run[data-run-id="{failed.id}"] g.failed-run')
    expect(mark).to_be_visible()
    box = mark.bounding_box()
    assert box is not None and box["width"] >= 10 and box["height"] >= 60, box
    crosses = mark.locator("path").evaluate_all(
        "paths => paths.map(p => getComputedStyle(p).stroke)"
    )
    assert crosses == ["rgb(186, 33, 33)"]  # the failed colour
    assert mark.locator("title").text_content() == f"run #{failed.id} failed: {REASON}"

    row = page.locator("#recent-runs tbody tr", has=page.locator(f'a:text-is("#{failed.id}")'))
    outcome = row.locator("td.outcome")
    expect(outcome).to_contain_text("failed: Salesforce login for account acme failed")
    assert outcome.get_attribute("title") == REASON
    expect(row).to_have_class("run-failed")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at 1280 px"
    screenshot(page, "export-status-failed-run")
