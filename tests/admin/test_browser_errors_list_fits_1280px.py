"""In a real browser at 1280 px: the Export errors list shows every column without an
inner scroll bar, long messages wrapped (screenshot:
var/test-artifacts/export-errors-1280.png)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.admin.conftest import log_in, screenshot
from tests.factories import CRMSettingsFactory, ExportErrorFactory, ExportRecordFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLUMNS = ["Error code", "Message", "Record", "Account", "Attempts", "Status", "Last attempt"]


def errors_of_a_busy_account() -> None:
    account = CRMSettingsFactory(
        account__slug="acme-industries", account__name="Acme Industries"
    ).account
    for i, (code, message) in enumerate(
        [
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Customers need an email"),
            ("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]"),
            (
                "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                "ContactTrigger: execution of BeforeInsert caused by: System.LimitException: "
                "Apex CPU time limit exceeded (Trigger.ContactTrigger: line 42, column 1)",
            ),
            ("INVALID_EMAIL_ADDRESS", "Email: invalid email address: not-an-email"),
        ]
    ):
        record = ExportRecordFactory(
            account=account,
            sobject="bizible2__Bizible_Touchpoint__c" if i % 2 else "Contact",
            external_id=f"touchpoint-2026-11-30-{i:06d}-web-form-submission",
        )
        ExportErrorFactory(record=record, error_code=code, message=message, attempts=3 + i)


def test_every_column_is_visible_without_an_inner_scroll(page, superuser):
    errors_of_a_busy_account()
    log_in(page, superuser.username)

    page.goto("/admin/exports/exporterror/?status__exact=open")

    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    results = page.locator("#changelist .results")
    overflow = results.evaluate("el => el.scrollWidth - el.clientWidth")
    screenshot(page, "export-errors-1280")
    assert overflow <= 0, f"the list scrolls sideways by {overflow} px"
    for name in COLUMNS:
        header = page.locator("#result_list thead th", has_text=name).first
        expect(header).to_be_in_viewport()
    third = page.locator("#result_list tbody tr").nth(2)
    expect(third).to_contain_text("Apex CPU time limit")
    # Long names wrap at their underscores, and read as they are.
    expect(third.locator(".field-code")).to_have_text("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY")
    expect(
        page.locator("#result_list tbody tr").nth(1).locator(".field-record_cell")
    ).to_contain_text("bizible2__Bizible_Touchpoint__c")
    screenshot(page, "export-errors-1280")
