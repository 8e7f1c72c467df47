"""`crm_account create` validates with the models' rules and names the option at fault."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, CRMSettings

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "500"], "--batch-size: Ensure this value is less than or equal to 200."),
        (["--batch-size", "0"], "--batch-size: Ensure this value is greater than or equal to 1."),
        (["--login-url", "not a url"], "--login-url: Enter a valid URL."),
        (["--timeout", "0"], "--timeout: Ensure this value is greater than or equal to 0.1."),
    ],
    ids=["batch too big", "batch zero", "login url", "timeout"],
)
def test_invalid_setting_names_its_option_and_saves_nothing(args: list[str], message: str):
    with pytest.raises(CommandError) as excinfo:
        call_command("crm_account", "create", "acme", *args)

    assert message in str(excinfo.value)
    assert "nothing was saved" in str(excinfo.value)
    assert excinfo.value.returncode == 2
    assert not Account.objects.filter(slug="acme").exists()


def test_an_invalid_update_leaves_the_account_as_it_was():
    call_command("crm_account", "create", "acme", "--batch-size", "100")

    with pytest.raises(CommandError, match="--batch-size"):
        call_command(
            "crm_account", "create", "acme", "--batch-size", "201",
            "--no-pause", "--i-understand-inconsistency",
        )  # fmt: skip

    crm = CRMSettings.objects.get(account__slug="acme")
    assert (crm.batch_size, crm.pause_on_export_errors) == (100, True)


def test_an_invalid_slug_is_rejected():
    with pytest.raises(CommandError, match="SLUG: Enter a valid") as excinfo:
        call_command("crm_account", "create", "not a slug")

    assert excinfo.value.returncode == 2
    assert not Account.objects.exists()
