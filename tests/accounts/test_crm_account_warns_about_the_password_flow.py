"""`crm_account` marks the username-password flow deprecated (retired February 20, 2027):
in `--auth-flow`'s help, as a warning when an account uses it, and in `list`."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import PASSWORD_FLOW_WARNING
from tests.factories import CRMSettingsFactory

pytestmark = pytest.mark.django_db


def test_create_with_the_password_flow_warns(monkeypatch):
    monkeypatch.setenv("SF_PASSWORD", "pw")
    monkeypatch.setenv("SF_SECRET", "secret")
    stderr = io.StringIO()

    call_command(
        "crm_account", "create", "acme", "--auth-flow", "password", "--client-id", "id",
        "--client-secret-env", "SF_SECRET", "--username", "u@example.com",
        "--password-env", "SF_PASSWORD", stderr=stderr,
    )  # fmt: skip

    assert stderr.getvalue() == f"warning: {PASSWORD_FLOW_WARNING}\n"
    assert "February 20, 2027" in PASSWORD_FLOW_WARNING


def test_other_flows_do_not_warn_about_it():
    stderr = io.StringIO()

    call_command("crm_account", "create", "acme", "--auth-flow", "jwt_bearer", stderr=stderr)

    assert "deprecated" not in stderr.getvalue()


def test_list_marks_the_accounts_still_on_it():
    CRMSettingsFactory(account__slug="acme", auth_flow="password")
    CRMSettingsFactory(account__slug="globex")
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("crm_account", "list", stdout=stdout, stderr=stderr)

    rows = {line.split()[0]: line for line in stdout.getvalue().splitlines()[1:]}
    assert rows["acme"].endswith("password (DEPRECATED)")
    assert rows["globex"].endswith("client_credentials")
    assert stderr.getvalue().startswith(
        "warning: accounts still on the username-password flow: acme. "
    )


def test_auth_flow_help_says_deprecated_and_recommends_the_others(capsys):
    with pytest.raises(SystemExit):
        call_command("crm_account", "create", "--help")

    help_text = " ".join(capsys.readouterr().out.split())
    assert "client_credentials (recommended) or jwt_bearer" in help_text
    assert "password is deprecated: Salesforce retires the username-password flow on" in help_text
    assert "February 20, 2027" in help_text
    assert "External Client App's consumer key" in help_text
