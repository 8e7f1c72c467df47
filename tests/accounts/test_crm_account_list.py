"""`crm_account list` shows each account with Export to CRM, Pause on errors, auth flow."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from tests.factories import AccountFactory, CRMSettingsFactory

pytestmark = pytest.mark.django_db


def test_list_shows_slug_name_and_switches():
    CRMSettingsFactory(
        account=AccountFactory(slug="acme", name="Acme Inc"),
        export_enabled=True,
        pause_on_export_errors=False,
    )
    AccountFactory(slug="globex", name="Globex")
    stdout = io.StringIO()

    call_command("crm_account", "list", stdout=stdout)

    lines = [line.split() for line in stdout.getvalue().splitlines()]
    assert lines == [
        ["SLUG", "NAME", "ACTIVE", "EXPORT", "PAUSE", "ON", "ERRORS", "AUTH", "FLOW"],
        ["acme", "Acme", "Inc", "on", "on", "off", "client_credentials"],
        ["globex", "Globex", "on", "off", "on", "client_credentials"],
    ]


def test_list_without_accounts_says_how_to_create_one():
    stdout = io.StringIO()

    call_command("crm_account", "list", stdout=stdout)

    assert "crm_account create SLUG" in stdout.getvalue()
