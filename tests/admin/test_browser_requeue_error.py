"""In a real browser: requeue an error from the list and see it resolved after the worker ran."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from exports.models import ExportError
from tests.admin.conftest import log_in, screenshot
from tests.conftest import wait_for
from tests.factories import ExportErrorFactory, ExportRecordFactory

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_requeue_an_error_from_the_list(page, superuser, crm_account, sandbox, celery_worker):
    account = crm_account()
    record = ExportRecordFactory(account=account, external_id="person-1")
    error = ExportErrorFactory(record=record)
    ExportErrorFactory(
        record=ExportRecordFactory(account=account), error_code="REQUIRED_FIELD_MISSING"
    )
    log_in(page, superuser.username)
    page.goto("/admin/exports/exporterror/?status__exact=open")
    screenshot(page, "export-errors")

    page.check(f"input[name=_selected_action][value='{error.pk}']")
    page.select_option("select[name=action]", "reexport_now")
    page.click("button[name=index]")

    expect(page.locator(".messagelist .success")).to_contain_text("Queued a re-export of 1")

    def resolved() -> bool:
        error.refresh_from_db()
        return error.status == ExportError.Status.RESOLVED

    wait_for(resolved, timeout=30)
    page.goto("/admin/exports/exporterror/?status__exact=resolved")
    expect(page.locator("#result_list")).to_contain_text("person-1")
    assert [w["external_id"] for w in sandbox.writes()] == ["person-1"]
