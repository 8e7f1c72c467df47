"""`crm_account create --no-pause` turns pause off only with --i-understand-inconsistency,
as the admin page needs its "I understand" box; the change is logged with who made it."""

from __future__ import annotations

import getpass
import logging

import pytest
from django.core.management import CommandError, call_command

from accounts.forms import PAUSE_OFF_WARNING
from accounts.models import Account, CRMSettings

pytestmark = pytest.mark.django_db

CONFIRM = "--i-understand-inconsistency"


def pause(slug: str = "acme") -> bool:
    return CRMSettings.objects.get(account__slug=slug).pause_on_export_errors


def test_without_the_flag_a_new_account_is_refused_with_the_warning():
    with pytest.raises(CommandError) as refused:
        call_command("crm_account", "create", "acme", "--no-pause", "--export")

    assert refused.value.returncode == 2
    message = str(refused.value)
    assert message.startswith("--no-pause turns Pause on export errors off for acme.")
    assert PAUSE_OFF_WARNING in message
    assert message.endswith(f"Add {CONFIRM} to confirm — nothing was saved.")
    assert not Account.objects.filter(slug="acme").exists()


def test_without_the_flag_an_update_changes_nothing():
    call_command("crm_account", "create", "acme", "--batch-size", "100")

    with pytest.raises(CommandError, match=CONFIRM):
        call_command("crm_account", "create", "acme", "--no-pause", "--batch-size", "50")

    crm = CRMSettings.objects.get(account__slug="acme")
    assert (crm.pause_on_export_errors, crm.batch_size) == (True, 100)


def test_with_the_flag_pause_goes_off_and_the_change_is_logged(caplog, capsys):
    call_command("crm_account", "create", "acme")
    caplog.set_level(logging.INFO, logger="accounts")

    call_command("crm_account", "create", "acme", "--no-pause", CONFIRM)

    assert pause() is False
    assert "pause on errors off" in capsys.readouterr().out
    (record,) = [r for r in caplog.records if "Pause on export errors" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"crm_account: Pause on export errors turned OFF for account acme by OS user "
        f"{getpass.getuser()} ({CONFIRM})"
    )


def test_no_flag_needed_where_pause_is_off_already_or_turned_on(caplog):
    call_command("crm_account", "create", "acme", "--no-pause", CONFIRM)
    caplog.clear()

    call_command("crm_account", "create", "acme", "--no-pause", "--batch-size", "10")
    assert pause() is False
    call_command("crm_account", "create", "acme", "--pause")
    assert pause() is True
    assert not [r for r in caplog.records if "turned OFF" in r.getMessage()]
