"""In a real browser: the status page of a paused account leads to its record and error."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.admin.conftest import log_in, pause_at, screenshot
from tests.factories import (
    CRMSettingsFactory,
    ExportErrorFactory,
    ExportRecordFactory,
    ExportRunFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def paused_account():
    """Acme: 436 records exported, paused at person-437 (a customer without an email)."""
    account = CRMSettingsFactory(account__slug="acme", account__name="Acme").account
    done = ExportRecordFactory(account=account)
    record = ExportRecordFactory(
        account=account,
        external_id="person-437",
        fields={"LastName": "Person 437", "Type__c": "Customer"},
    )
    ExportRecordFactory.create_batch(3, account=account)
    error = ExportErrorFactory(record=record, fields=["Email"], attempts=3)
    ExportErrorFactory(
        record=ExportRecordFactory(account=account),
        error_code="REQUIRED_FIELD_MISSING",
        message="Required fields are missing: [LastName]",
    )
    pause_at(record, error, last_exported=done)
    for exported, failed in [(200, 0), (200, 0), (36, 1), (0, 1), (0, 1), (12, 2)]:
        ExportRunFactory(
            account=account, exported=exported, failed=failed, attempted=exported + failed
        )
    return account, record, error


def test_status_page_shows_the_paused_record_and_its_error(page, superuser):
    account, record, error = paused_account()
    log_in(page, superuser.username)

    page.goto(f"/admin/exports/status/{account.slug}/")

    expect(page.locator("#state-badge")).to_have_text("paused")
    expect(page.locator("#paused-at")).to_contain_text(f"#{record.id}")
    expect(page.locator("#paused-at")).to_contain_text("person-437")
    expect(page.locator("#paused-error")).to_contain_text(
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Customers need an email"
    )
    expect(page.locator("#backlog")).to_have_text("5")
    expect(page.locator("svg.runs-chart g.run")).to_have_count(6)
    expect(page.locator("#resume-export")).to_be_visible()
    screenshot(page, "export-status")

    page.click("#paused-error-link")

    expect(page.locator("h1")).to_contain_text("error")
    expect(page.locator(".field-record_payload")).to_contain_text('"Customer"')
    expect(page.locator(".field-error_code")).to_contain_text("FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert page.url.endswith(f"/admin/exports/exporterror/{error.id}/change/")
    screenshot(page, "export-error-detail")
