"""The pause field is on the CRM settings page only while Export to CRM is on."""

from __future__ import annotations

import pytest

from tests.admin.conftest import change_url

pytestmark = pytest.mark.django_db

PAUSE_INPUT = 'name="pause_on_export_errors"'


def test_page_with_export_on_has_the_pause_field(super_client, crm_settings):
    html = super_client.get(change_url(crm_settings)).content.decode()

    assert PAUSE_INPUT in html
    assert 'name="confirm_pause_off"' in html


def test_page_with_export_off_has_no_pause_field(super_client, crm_settings):
    crm_settings.export_enabled = False
    crm_settings.save()

    html = super_client.get(change_url(crm_settings)).content.decode()

    assert PAUSE_INPUT not in html
    assert 'name="confirm_pause_off"' not in html
    assert "Pause on export errors" not in html


def test_the_page_script_can_fetch_the_pause_field(super_client, crm_settings):
    crm_settings.export_enabled = False
    crm_settings.save()

    response = super_client.get(f"/admin/accounts/crmsettings/{crm_settings.pk}/pause-field/")

    html = response.content.decode()
    assert response.status_code == 200
    assert PAUSE_INPUT in html and "checked" in html
    assert 'name="pause_on_export_errors_shown"' in html


def test_page_is_titled_as_the_settings_path(super_client, crm_settings):
    html = super_client.get(change_url(crm_settings)).content.decode()

    assert f"{crm_settings.account} › Settings › CRM" in html
    assert ">General</h2>" in html and ">Connection</h2>" in html
