"""The README's wrong-secret path: a refused login fails the run at once and every place a
person looks says why — `crm_export`, `crm_status` (FAILING), the admin's Test connection
— without the secret, without "will retry", and with no API call counted."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from tests.pipeline_fixtures import contacts, enqueue

pytestmark = pytest.mark.integration

SECRET = "wrong-secret-Zq81"


def test_a_refused_login_says_why_everywhere(sandbox, celery_worker, crm_account, capsys):
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", "root@example.com", "pw-Xk2"))
    account = crm_account(client_secret=SECRET)
    enqueue(account, contacts(5))  # they wait for a run with the right secret

    with pytest.raises(SystemExit) as exit_status:
        call_command("crm_export", "--account", account.slug)
    exported = capsys.readouterr()

    assert exit_status.value.code == 1
    summary, reason = exported.out.strip().splitlines()
    assert summary.endswith(": failed — attempted 0, exported 0, failed 0, API calls 0")
    assert reason.startswith("failed: Salesforce login for ")
    assert "invalid_client" in reason  # Salesforce's own code for it
    assert "CRM settings" in reason  # where to fix it

    call_command("crm_status", "--account", account.slug)
    status = capsys.readouterr().out
    assert status.startswith(f"account {account.slug}: FAILING (idle), exported up to #0\n")
    assert reason.removeprefix("failed: ") in status
    assert "once the cause is fixed, the scheduled runs go on by themselves" in status

    response = admin.post(
        f"/admin/accounts/crmsettings/{account.crm_settings.pk}/test-connection/", follow=True
    )
    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("Connection failed: Salesforce login for ")
    assert "invalid_client" in message

    page = admin.get(f"/admin/exports/status/{account.slug}/").content.decode()
    assert 'id="state-badge">failing<' in page

    for text in (exported.out, exported.err, status, message, page):
        assert SECRET not in text
        assert "will retry" not in text
