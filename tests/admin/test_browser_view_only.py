"""In a real browser: view-only staff see the settings and errors but cannot change them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.admin.conftest import change_url, log_in
from tests.factories import CRMSettingsFactory, ExportErrorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_view_only_user_cannot_change_pause(page, viewer):
    settings = CRMSettingsFactory(export_enabled=True, pause_on_export_errors=True)
    log_in(page, viewer.username)

    page.goto(change_url(settings))

    row = page.locator(".form-row.field-pause_on_export_errors")
    expect(row).to_contain_text("Pause on export errors")
    expect(page.locator("#id_pause_on_export_errors")).to_have_count(0)
    expect(page.locator("input[name=_save]")).to_have_count(0)
    expect(page.locator("#test-connection")).to_have_count(0)


def test_view_only_user_cannot_requeue_errors(page, viewer):
    ExportErrorFactory()
    log_in(page, viewer.username)

    page.goto("/admin/exports/exporterror/")

    options = page.locator("select[name=action] option").all_inner_texts()
    assert "Download CSV" in options
    assert "Re-export now" not in options
