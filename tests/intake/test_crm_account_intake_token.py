"""`crm_account intake-token SLUG` prints a new token alone on the last line of stdout, and
the account's previous token stops working; `--revoke` only revokes; an unknown slug is
exit status 2. The token is never logged."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import intake_tokens
from tests.intake.conftest import ndjson, post, record

pytestmark = pytest.mark.django_db


def intake_token(*args: str) -> str:
    stdout = io.StringIO()
    call_command("crm_account", "intake-token", *args, stdout=stdout)
    return stdout.getvalue()


def test_prints_the_token_alone_on_the_last_line(api, account, caplog):
    caplog.set_level(logging.DEBUG)

    output = intake_token("acme")

    *before, last = output.rstrip("\n").split("\n")
    assert last.startswith("crmsync_") and " " not in last and len(last) >= 40
    assert before and "shown this once" in before[0] and last not in "".join(before)
    found = intake_tokens.find(last)
    assert found is not None and found.account == account
    assert post(api, "acme", ndjson([record(1)]), last).status_code == 201
    assert last not in caplog.text
    assert "new intake token for account acme" in caplog.text


def test_a_new_token_revokes_the_previous_one(api, account):
    first = intake_token("acme").splitlines()[-1]
    second = intake_token("acme").splitlines()[-1]

    assert first != second
    assert intake_tokens.find(first) is None
    assert post(api, "acme", ndjson([record(1)]), first).status_code == 401
    assert post(api, "acme", ndjson([record(1)]), second).status_code == 201


def test_revoke_makes_no_new_token(api, account):
    token = intake_token("acme").splitlines()[-1]

    output = intake_token("acme", "--revoke")

    assert output.strip() == "revoked the intake token of acme"
    assert intake_tokens.find(token) is None
    assert not hasattr(type(account).objects.get(pk=account.pk), "intake_token")
    assert intake_token("acme", "--revoke").strip() == "acme had no intake token; nothing changed"


def test_an_unknown_account_is_exit_status_2(db):
    with pytest.raises(CommandError) as refused:
        intake_token("nobody")

    assert refused.value.returncode == 2
    assert "no account with slug 'nobody'" in str(refused.value)
