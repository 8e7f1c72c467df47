"""A stored secret no key of CRMSYNC_ENCRYPTION_KEY opens (the key changed or is missing)
answers no page with a 500: the CRM settings, accounts and status pages say "unreadable —
set it again"; saving other settings keeps it as stored; an export run fails with that
reason, and setting the secret again fixes it."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from accounts.models import CRMSettings
from exports.models import ExportCursor
from tests.admin.conftest import change_url, settings_post
from tests.pipeline_fixtures import contacts, enqueue

UNREADABLE = "unreadable — set it again"  # what a person reads


def stored_client_secret(settings_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT client_secret FROM accounts_crmsettings WHERE id = %s", [settings_id]
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_pages_say_unreadable_and_a_save_keeps_it(super_client, crm_account, settings) -> None:
    crm = CRMSettings.objects.get(account=crm_account())
    token = stored_client_secret(crm.id)
    settings.CRMSYNC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key is gone

    pages = {
        "CRM settings": change_url(crm),
        "CRM settings list": "/admin/accounts/crmsettings/",
        "accounts": "/admin/accounts/account/",
        "account": f"/admin/accounts/account/{crm.account_id}/change/",
        "status": f"/admin/exports/status/{crm.account.slug}/",
        "status index": "/admin/exports/status/",
    }
    answers = {name: super_client.get(url) for name, url in pages.items()}

    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(pages, 200)
    for name in ("CRM settings", "accounts", "status"):
        assert UNREADABLE in answers[name].content.decode(), name
    super_client.post(change_url(crm), settings_post(crm, batch_size=50))
    assert stored_client_secret(crm.id) == token  # still there for the key that opens it


@pytest.mark.integration
def test_a_run_fails_with_the_reason_until_it_is_set_again(
    sandbox, celery_worker, crm_account, settings, capsys
) -> None:
    account = crm_account()
    enqueue(account, contacts(3))
    settings.CRMSYNC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(SystemExit):
        call_command("crm_export", "--account", account.slug, "--json")

    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "failed"
    assert "client secret" in out["error_message"] and "unreadable" in out["error_message"]
    assert ExportCursor.objects.get(account=account).last_error_code == "SECRET_UNREADABLE"
    crm = CRMSettings.objects.get(account=account)
    crm.client_secret = sandbox.client_secret  # set again, with the key now configured
    crm.save()
    call_command("crm_export", "--account", account.slug, "--json")
    assert json.loads(capsys.readouterr().out)["outcome"] == "completed"
    assert len(sandbox.writes()) == 3
