"""In a real browser at 1280 px, from the Procfile's gunicorn: one record's story (a key
written, rejected, fixed and written again) and the skip confirmation fit without a
horizontal scroll bar (screenshots: var/test-artifacts/record-story-1280.png and
skip-record-1280.png); skipping from the status page goes on after the record."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from exports.models import ExportCursor
from tests.admin.conftest import log_in, pause_at, screenshot
from tests.admin.story_data import EXTERNAL_ID, with_superseded_error
from tests.factories import CRMSettingsFactory, ExportErrorFactory, ExportRecordFactory

pytestmark = [pytest.mark.browser, pytest.mark.integration]

LONG_MESSAGE = (
    "ContactTrigger: execution of BeforeUpdate caused by: System.DmlException: Update failed. "
    "First exception on row 0; first error: FIELD_CUSTOM_VALIDATION_EXCEPTION, Customers need "
    "an email address before a salesperson may convert them: [Email]"
)


def sideways_scroll(page: Any) -> int:
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def test_the_story_fits_1280px(page, superuser, crm_account, sandbox, celery_worker):
    account = crm_account(pause=False)
    with_superseded_error(sandbox, account)
    log_in(page, superuser.username)

    page.goto(f"/admin/exports/story/?account={account.slug}&q={EXTERNAL_ID}")

    expect(page.locator("#story-versions tr.version")).to_have_count(3)
    expect(page.locator("#story-versions li.result")).to_have_count(4)
    expect(page.locator("#story-salesforce-id a")).to_have_count(1)
    path = screenshot(page, "record-story-1280")
    assert sideways_scroll(page) <= 0, f"the page scrolls sideways ({path})"
    expect(page.locator("#story-versions thead th", has_text="Results")).to_be_in_viewport()


@pytest.mark.django_db(transaction=True)
def test_skip_from_the_status_page_fits_1280px_and_goes_on(page, superuser):
    account = CRMSettingsFactory(
        account__slug="acme-industries", account__name="Acme Industries"
    ).account
    done = ExportRecordFactory(account=account, external_id="person-1")
    bad = ExportRecordFactory(
        account=account,
        external_id="touchpoint-2026-11-30-000417-web-form-submission-with-a-long-external-id",
        fields={"LastName": "Lee", "Type__c": "Customer"},
    )
    pause_at(bad, ExportErrorFactory(record=bad, message=LONG_MESSAGE), done)
    log_in(page, superuser.username)

    page.goto(f"/admin/exports/status/{account.slug}/")
    screenshot(page, "status-with-skip-1280")
    page.click("#skip-paused-record")

    expect(page.locator("#what-happens")).to_contain_text("Pause stays on for every later record.")
    expect(page.locator("#skip-external-id")).to_contain_text(bad.external_id)
    path = screenshot(page, "skip-record-1280")
    assert sideways_scroll(page) <= 0, f"the page scrolls sideways ({path})"
    expect(page.locator("#confirm-skip")).to_be_in_viewport()

    page.click("#confirm-skip")

    expect(page.locator(".messagelist .success")).to_contain_text(f"Skipped record #{bad.id}")
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.state, cursor.last_exported_id) == ("idle", bad.id)
