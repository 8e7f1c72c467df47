"""`crm_account create SLUG` creates an account with its CRM settings; run again, it updates
only what the options name."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import Account, CRMSettings

pytestmark = pytest.mark.django_db


def crm_account(*args: str) -> str:
    stdout = io.StringIO()
    call_command("crm_account", *args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue()


def test_create_sets_the_account_and_its_settings():
    output = crm_account(
        "create", "acme",
        "--name", "Acme Inc",
        "--login-url", "https://acme.my.salesforce.com",
        "--auth-flow", "client_credentials",
        "--client-id", "crmsync",
        "--api-version", "61.0",
        "--batch-size", "50",
        "--max-records-per-run", "1000",
        "--timeout", "2.5",
        "--no-pause", "--i-understand-inconsistency",
        "--export",
    )  # fmt: skip

    account = Account.objects.get(slug="acme")
    crm = CRMSettings.objects.get(account=account)
    assert account.name == "Acme Inc"
    assert (crm.login_url, crm.auth_flow, crm.client_id, crm.api_version) == (
        "https://acme.my.salesforce.com",
        "client_credentials",
        "crmsync",
        "61.0",
    )
    assert (crm.batch_size, crm.max_records_per_run, crm.timeout_seconds) == (50, 1000, 2.5)
    assert crm.pause_on_export_errors is False
    assert crm.export_enabled is True
    assert output.startswith("created account acme (Acme Inc): export on, pause on errors off")
    assert output.count("\n") == 1


def test_update_changes_only_the_options_given():
    crm_account("create", "acme", "--name", "Acme", "--client-id", "one", "--batch-size", "50")

    output = crm_account("create", "acme", "--pause", "--batch-size", "200")

    assert Account.objects.filter(slug="acme").count() == 1
    crm = CRMSettings.objects.get(account__slug="acme")
    assert crm.account.name == "Acme"
    assert crm.client_id == "one"
    assert crm.batch_size == 200
    assert crm.pause_on_export_errors is True
    assert output.startswith("updated account acme (Acme):")


def test_a_new_account_is_named_after_its_slug_and_keeps_the_safe_defaults():
    crm_account("create", "globex")

    crm = CRMSettings.objects.get(account__slug="globex")
    assert crm.account.name == "globex"
    assert crm.pause_on_export_errors is True
    assert crm.export_enabled is False
