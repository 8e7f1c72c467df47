"""The CRM settings admin form, fuzzed: any POST either saves settings that pass the
model's validation (302) or shows the form again with errors and changes nothing (200);
never a server error, and a posted secret is never shown back."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import CRMSettings
from tests.factories import AccountFactory, CRMSettingsFactory

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.django_db]

text = st.text(max_size=40) | st.sampled_from(
    [
        "",
        "0",
        "-1",
        "201",
        "1e9",
        "NaN",
        "\x00",
        "x" * 5000,
        "https://login.salesforce.com",
        "javascript:alert(1)",
        "<script>x</script>",
        "' OR 1=1 --",
    ]
)
# A posted secret carries a marker no page has, so finding it means it was echoed.
secrets = st.just("") | text.map(lambda t: f"zz-canary-{t}")
FIELDS = [
    "batch_size",
    "max_records_per_run",
    "daily_api_limit",
    "login_url",
    "auth_flow",
    "client_id",
    "username",
    "api_version",
    "ca_bundle",
    "timeout_seconds",
    "alert_emails",
    "alert_webhook_url",
    "still_paused_after_hours",
    "error_spike_per_hour",
    "error_spike_percent",
]
form_data = st.fixed_dictionaries(
    {name: text for name in FIELDS},
    optional={
        "export_enabled": st.sampled_from(["on", ""]),
        "pause_on_export_errors": st.sampled_from(["on", ""]),
        "pause_on_export_errors_shown": st.just("1"),
        "confirm_pause_off": st.sampled_from(["on", ""]),
        "client_secret": secrets,
        "password": secrets,
        "private_key": secrets,
        "alert_webhook_secret": secrets,
    },
)


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=form_data)
def test_any_post_saves_valid_settings_or_changes_nothing(admin_client, data):
    crm = CRMSettingsFactory(account=AccountFactory(slug="form"), client_secret="kept-secret")
    before = CRMSettings.objects.filter(id=crm.id).values().get()
    response = admin_client.post(f"/admin/accounts/crmsettings/{crm.id}/change/", data)

    assert response.status_code in (200, 302), response.status_code
    after = CRMSettings.objects.get(id=crm.id)
    if response.status_code == 200:
        assert CRMSettings.objects.filter(id=crm.id).values().get() == before
        for secret in ("client_secret", "password", "private_key", "alert_webhook_secret"):
            if data.get(secret):
                page = response.content.decode()
                assert data[secret] not in page and html.escape(data[secret]) not in page
    else:
        after.full_clean()
