"""An account's Salesforce request timeout is 0.1 to 120 s: the model, the admin form and
`crm_account --timeout` refuse anything else (1e17, inf, nan) and save nothing. Other
expiries are derived from it (the login lock, the org slots in Redis); an unbounded one
once made Redis refuse them and every worker treated the cache as down."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from accounts.models import CRMSettings
from tests.admin.conftest import change_url, settings_post
from tests.factories import CRMSettingsFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        ("1e17", "Ensure this value is less than or equal to 120."),
        ("121", "Ensure this value is less than or equal to 120."),
        ("inf", "Enter a number, not inf."),
        ("nan", "Enter a number, not nan."),
    ],
)
def test_crm_account_refuses_it_with_exit_status_2_and_saves_nothing(timeout, message):
    with pytest.raises(CommandError) as refused:
        call_command("crm_account", "create", "acme", "--timeout", timeout, stdout=io.StringIO())

    assert refused.value.returncode == 2
    assert str(refused.value).startswith(f"--timeout: {message}")
    assert str(refused.value).endswith("nothing was saved")
    assert not CRMSettings.objects.filter(account__slug="acme").exists()


def test_crm_account_takes_120():
    call_command("crm_account", "create", "acme", "--timeout", "120", stdout=io.StringIO())

    assert CRMSettings.objects.get(account__slug="acme").timeout_seconds == 120


def test_the_admin_form_refuses_121(super_client, crm_settings):
    response = super_client.post(
        change_url(crm_settings), settings_post(crm_settings, timeout_seconds=121)
    )

    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 120" in response.content.decode()
    crm_settings.refresh_from_db()
    assert crm_settings.timeout_seconds == 30


@pytest.mark.parametrize("timeout", [121, 1e17, float("inf"), float("nan")])
def test_the_model_refuses_it(timeout):
    crm = CRMSettingsFactory(timeout_seconds=30)
    crm.timeout_seconds = timeout

    with pytest.raises(ValidationError) as refused:
        crm.full_clean()

    assert "timeout_seconds" in refused.value.message_dict


def test_the_database_refuses_it_too():
    crm = CRMSettingsFactory(timeout_seconds=30)

    with pytest.raises(IntegrityError), transaction.atomic():
        CRMSettings.objects.filter(id=crm.id).update(timeout_seconds=1e17)
