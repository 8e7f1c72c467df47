"""In a real browser: the pause field follows Export to CRM; turning it off asks first."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from playwright.sync_api import expect

from accounts.models import CRMSettings
from tests.admin.conftest import change_url, log_in, screenshot
from tests.factories import CRMSettingsFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAUSE = "#id_pause_on_export_errors"
EXPORT = "#id_export_enabled"
CONFIRM_ROW = ".form-row.field-confirm_pause_off"


def stored(settings: CRMSettings) -> CRMSettings:
    settings.refresh_from_db()
    return settings


def save(page) -> None:
    page.click("input[name=_save]")


def test_pause_field_appears_and_disappears_with_export_to_crm(page, superuser):
    settings = CRMSettingsFactory(
        account__slug="acme",
        account__name="Acme",
        export_enabled=False,
        pause_on_export_errors=True,
    )
    log_in(page, superuser.username)
    page.goto(change_url(settings))

    expect(page.locator(PAUSE)).to_have_count(0)  # not on the page at all

    page.check(EXPORT)
    expect(page.locator(PAUSE)).to_be_visible()
    expect(page.locator(PAUSE)).to_be_checked()
    expect(page.locator(CONFIRM_ROW)).to_be_hidden()

    page.uncheck(EXPORT)
    expect(page.locator(PAUSE)).to_be_hidden()

    page.check(EXPORT)
    expect(page.locator(PAUSE)).to_be_visible()
    screenshot(page, "crm-settings")
    save(page)
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert (stored(settings).export_enabled, settings.pause_on_export_errors) == (True, True)


def test_turning_pause_off_warns_cancel_keeps_it_on_confirm_turns_it_off(page, superuser):
    settings = CRMSettingsFactory(export_enabled=True, pause_on_export_errors=True)
    log_in(page, superuser.username)
    page.goto(change_url(settings))
    expect(page.locator(CONFIRM_ROW)).to_be_hidden()

    # Untick → the warning; cancel → pause ticked again, and saving keeps it on.
    page.uncheck(PAUSE)
    expect(page.locator(CONFIRM_ROW)).to_be_visible()
    expect(page.locator(CONFIRM_ROW)).to_contain_text("The CRM may become inconsistent")
    expect(page.locator(CONFIRM_ROW)).to_contain_text("this account's responsibility")
    screenshot(page, "crm-settings-general")
    page.click("#keep-pause-on")
    expect(page.locator(PAUSE)).to_be_checked()
    expect(page.locator(CONFIRM_ROW)).to_be_hidden()
    save(page)
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert stored(settings).pause_on_export_errors is True

    # Untick and save without confirming → refused by the server, still on.
    page.goto(change_url(settings))
    page.uncheck(PAUSE)
    save(page)
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(CONFIRM_ROW)).to_contain_text("was not turned off")
    assert stored(settings).pause_on_export_errors is True

    # Confirm → off, and the admin history says who changed it.
    page.check("#id_confirm_pause_off")
    save(page)
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert stored(settings).pause_on_export_errors is False
    entry = LogEntry.objects.filter(object_id=str(settings.pk)).latest("action_time")
    assert (entry.user, entry.get_change_message()) == (
        superuser,
        "Changed Pause on export errors.",
    )
    page.goto(f"/admin/accounts/crmsettings/{settings.pk}/history/")
    expect(page.locator("#change-history")).to_contain_text("Changed Pause on export errors.")
    expect(page.locator("#change-history")).to_contain_text(superuser.username)


def test_turning_pause_on_needs_no_confirmation(page, superuser):
    settings = CRMSettingsFactory(export_enabled=True, pause_on_export_errors=False)
    log_in(page, superuser.username)
    page.goto(change_url(settings))

    page.check(PAUSE)
    expect(page.locator(CONFIRM_ROW)).to_be_hidden()
    save(page)

    expect(page.locator(".messagelist .success")).to_be_visible()
    assert stored(settings).pause_on_export_errors is True
