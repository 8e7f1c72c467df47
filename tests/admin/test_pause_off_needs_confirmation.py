"""Turning "Pause on export errors" off is refused on the server without the confirmation."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry

from accounts.forms import PAUSE_OFF_WARNING
from accounts.models import CRMSettings
from tests.admin.conftest import change_url, settings_post

pytestmark = pytest.mark.django_db


def pause_entries(settings: CRMSettings) -> list[LogEntry]:
    return [
        entry
        for entry in LogEntry.objects.filter(object_id=str(settings.pk), action_flag=CHANGE)
        if "Pause on export errors" in entry.get_change_message()
    ]


def test_post_turning_pause_off_without_confirmation_is_refused(super_client, crm_settings):
    data = settings_post(crm_settings, pause_on_export_errors=False, batch_size=50)

    response = super_client.post(change_url(crm_settings), data)

    assert response.status_code == 200  # the form again, not a redirect
    html = response.content.decode()
    assert "Pause on export errors was not turned off" in html
    assert PAUSE_OFF_WARNING in html
    assert html.count("The CRM may become inconsistent") == 1  # said once, under the box
    crm_settings.refresh_from_db()
    assert crm_settings.pause_on_export_errors is True
    assert crm_settings.batch_size == 200  # nothing of the refused POST was saved
    assert pause_entries(crm_settings) == []


def test_post_turning_pause_off_with_confirmation_saves_and_is_in_history(
    super_client, superuser, crm_settings
):
    data = settings_post(crm_settings, pause_on_export_errors=False, confirm_pause_off=True)

    response = super_client.post(change_url(crm_settings), data)

    assert response.status_code == 302
    crm_settings.refresh_from_db()
    assert crm_settings.pause_on_export_errors is False
    [entry] = pause_entries(crm_settings)
    assert entry.user == superuser
    assert entry.get_change_message() == "Changed Pause on export errors."


def test_turning_pause_on_needs_no_confirmation(super_client, crm_settings):
    crm_settings.pause_on_export_errors = False
    crm_settings.save()

    response = super_client.post(
        change_url(crm_settings), settings_post(crm_settings, pause_on_export_errors=True)
    )

    assert response.status_code == 302
    crm_settings.refresh_from_db()
    assert crm_settings.pause_on_export_errors is True
    assert len(pause_entries(crm_settings)) == 1


def test_a_post_without_the_pause_field_leaves_pause_as_stored(super_client, crm_settings):
    """A POST that never showed the pause field (no marker) cannot turn it off either."""
    data = settings_post(crm_settings, pause_on_export_errors=False, batch_size=50)
    del data["pause_on_export_errors_shown"]

    response = super_client.post(change_url(crm_settings), data)

    assert response.status_code == 302
    crm_settings.refresh_from_db()
    assert crm_settings.pause_on_export_errors is True
    assert crm_settings.batch_size == 50


def test_turning_export_off_leaves_pause_as_stored(super_client, crm_settings):
    data = settings_post(crm_settings, export_enabled=False, pause_on_export_errors=False)

    response = super_client.post(change_url(crm_settings), data)

    assert response.status_code == 302
    crm_settings.refresh_from_db()
    assert crm_settings.export_enabled is False
    assert crm_settings.pause_on_export_errors is True
