"""The CRM settings page's Notifications fieldset: recipients, webhook, a write-only signing
secret stored encrypted, thresholds; the same permission rules as the other fields."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.admin.conftest import change_url, settings_post

pytestmark = pytest.mark.django_db

HOOK_SECRET = "whsec-Vb9-never-rendered"


def test_an_editor_sets_recipients_webhook_and_secret_which_is_never_shown(
    super_client, crm_settings
):
    data = settings_post(
        crm_settings,
        alert_emails="ops@example.com\noncall@example.com",
        alert_webhook_url="https://hooks.example.com/crmsync",
        alert_webhook_secret=HOOK_SECRET,
        still_paused_after_hours=6,
    )

    response = super_client.post(change_url(crm_settings), data)

    assert response.status_code == 302
    crm_settings.refresh_from_db()
    assert crm_settings.alert_email_list == ["ops@example.com", "oncall@example.com"]
    assert crm_settings.alert_webhook_secret == HOOK_SECRET
    assert crm_settings.still_paused_after_hours == 6
    with connection.cursor() as cursor:
        cursor.execute("SELECT alert_webhook_secret FROM accounts_crmsettings")
        assert HOOK_SECRET not in cursor.fetchone()[0]
    page = super_client.get(change_url(crm_settings)).content.decode()
    assert (
        'class="fieldset-heading">Notifications</h2>' in page
        and "Currently: set. Leave empty to keep it." in page
    )
    assert HOOK_SECRET not in page


def test_a_webhook_into_the_servers_network_is_refused_with_the_reason(super_client, crm_settings):
    data = settings_post(
        crm_settings, alert_webhook_url="https://169.254.169.254/latest", alert_webhook_secret="s"
    )

    response = super_client.post(change_url(crm_settings), data)

    assert response.status_code == 200
    assert "private, loopback or link-local range" in response.content.decode()
    crm_settings.refresh_from_db()
    assert crm_settings.alert_webhook_url == ""


def test_a_webhook_without_a_secret_is_refused(super_client, crm_settings):
    data = settings_post(crm_settings, alert_webhook_url="https://hooks.example.com/x")

    response = super_client.post(change_url(crm_settings), data)

    assert response.status_code == 200
    assert "A webhook needs a signing secret" in response.content.decode()


def test_view_only_staff_see_the_secret_as_set_and_cannot_change_it(viewer_client, crm_settings):
    crm_settings.alert_webhook_secret = HOOK_SECRET
    crm_settings.save()

    page = viewer_client.get(change_url(crm_settings)).content.decode()
    refused = viewer_client.post(
        change_url(crm_settings), settings_post(crm_settings, alert_emails="evil@example.com")
    )

    assert 'class="fieldset-heading">Notifications</h2>' in page and HOOK_SECRET not in page
    assert refused.status_code == 403
    crm_settings.refresh_from_db()
    assert crm_settings.alert_emails == ""
