"""`crm_account create --alert-email ... --alert-webhook URL --alert-webhook-secret-env VAR`."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import CRMSettings

pytestmark = pytest.mark.django_db


def create(*args: str) -> None:
    call_command("crm_account", "create", "acme", *args)


def test_the_options_set_recipients_webhook_and_an_encrypted_secret(monkeypatch, capsys):
    monkeypatch.setenv("HOOK_SECRET", "whsec-Zt7-never-printed")

    create(
        "--alert-email",
        "ops@example.com",
        "--alert-email",
        "oncall@example.com",
        "--alert-webhook",
        "https://hooks.example.com/T0/B1/tok3n",
        "--alert-webhook-secret-env",
        "HOOK_SECRET",
    )

    crm = CRMSettings.objects.get(account__slug="acme")
    assert crm.alert_email_list == ["ops@example.com", "oncall@example.com"]
    assert crm.alert_webhook_url == "https://hooks.example.com/T0/B1/tok3n"
    assert crm.alert_webhook_secret == "whsec-Zt7-never-printed"
    with connection.cursor() as cursor:
        cursor.execute("SELECT alert_webhook_secret FROM accounts_crmsettings")
        assert "whsec" not in cursor.fetchone()[0]
    out = capsys.readouterr().out
    assert "alerts: ops@example.com, oncall@example.com, webhook https://hooks.example.com" in out
    assert "whsec" not in out and "tok3n" not in out


def test_a_later_call_replaces_the_recipients_and_empty_clears_them():
    create("--alert-email", "a@example.com")
    create("--alert-email", "b@example.com")
    assert CRMSettings.objects.get().alert_email_list == ["b@example.com"]
    create("--alert-email", "")
    assert CRMSettings.objects.get().alert_email_list == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--alert-email", "not-an-address"), "--alert-email: Not an email address"),
        (
            ("--alert-webhook", "https://hooks.example.com/x"),
            "--alert-webhook-secret-env: A webhook needs a signing secret",
        ),
        (
            ("--alert-webhook", "http://hooks.example.com/x"),
            "--alert-webhook: The webhook URL must start with https://",
        ),
        (
            ("--alert-webhook-secret-env", "UNSET_VAR_Q9"),
            "the environment variable UNSET_VAR_Q9 is not set",
        ),
    ],
)
def test_bad_alert_options_are_a_clear_error_and_nothing_is_saved(args, message):
    with pytest.raises(CommandError) as error:
        create(*args)

    assert message in str(error.value) and error.value.returncode == 2
    assert not CRMSettings.objects.filter(account__slug="acme").exists()
