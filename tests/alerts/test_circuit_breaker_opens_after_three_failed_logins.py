"""After three runs in a row fail to log in, scheduled runs wait (10 min, then longer)
instead of logging in every 5 minutes; the status page and crm_status say so; saving the
CRM settings or a successful Test connection closes the circuit at once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from exports.models import AlertState, ExportRun, Notification
from exports.run import runs
from exports.tools.runner import run_and_wait
from tests.conftest import wait_for
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = pytest.mark.integration

ROTATED = {"auth": {"clients": {"sandbox": "rotated-by-the-org"}}}


def failed_logins(account, sandbox, runs: int) -> list[ExportRun]:
    """`runs` runs whose login the org refuses, each evaluated by the alerts (the worker
    does that just after the run's outcome is written)."""
    sandbox.set_rules(ROTATED)  # the org's app secret changed: every login is refused
    ended = []
    for _ in range(runs):
        ended.append(run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60))
        wait_for(
            lambda: AlertState.objects.filter(account=account, last_run_id=ended[-1].id).exists(),
            what="the alerts to count the failed login",
        )
    return ended


def status_json(account, capsys) -> dict:
    call_command("crm_status", "--account", account.slug, "--json")
    return json.loads(capsys.readouterr().out)


def test_three_failed_logins_hold_the_schedule_and_say_why(
    sandbox, celery_worker, crm_account, alerts_to_receiver, capsys
):
    account = crm_account(alert_emails="ops@example.com")
    enqueue(account, contacts(5))

    failed = failed_logins(account, sandbox, 2)
    assert [r.outcome for r in failed] == ["failed", "failed"]
    assert account.id in runs.due_account_ids()  # two failures: still scheduled

    failed_logins(account, sandbox, 1)
    state = AlertState.objects.get(account=account)

    assert state.auth_failures == 3
    opens_for = state.circuit_open_until - timezone.now()
    assert timedelta(minutes=9) < opens_for <= timedelta(minutes=10)
    assert "invalid_client" in state.circuit_reason
    assert account.id not in runs.due_account_ids()
    status = status_json(account, capsys)
    assert status["circuit_open_until"] and "3 runs in a row" in status["circuit_reason"]
    call_command("crm_status", "--account", account.slug)
    assert "circuit open until" in capsys.readouterr().out
    page = admin_client().get(f"/admin/exports/status/{account.slug}/").content.decode()
    assert 'id="circuit-open"' in page and "scheduled runs wait until" in page
    assert Notification.objects.filter(account=account, event="run_failing").count() == 1

    failed_logins(account, sandbox, 1)  # a run by hand is one more attempt: it waits longer
    state.refresh_from_db()
    assert state.auth_failures == 4
    assert state.circuit_open_until - timezone.now() > timedelta(minutes=19)


def test_saving_the_settings_closes_the_circuit(sandbox, celery_worker, crm_account, capsys):
    account = crm_account()
    enqueue(account, contacts(5))
    failed_logins(account, sandbox, 3)
    assert account.id not in runs.due_account_ids()

    crm = account.crm_settings
    crm.refresh_from_db()
    crm.client_secret = "rotated-by-the-org"
    crm.save()

    assert account.id in runs.due_account_ids()
    assert status_json(account, capsys)["circuit_open_until"] is None
    assert run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=60).outcome == "completed"


def test_a_successful_test_connection_closes_the_circuit(sandbox, celery_worker, crm_account):
    account = crm_account()
    enqueue(account, contacts(5))
    failed_logins(account, sandbox, 3)
    sandbox.set_rules({})  # the org's secret is back to what crmsync has

    response = admin_client().post(
        f"/admin/accounts/crmsettings/{account.crm_settings.pk}/test-connection/", follow=True
    )

    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("Connected to") and "Scheduled runs start again" in message
    assert account.id in runs.due_account_ids()


def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(f"root{User.objects.count()}", "", "pw"))
    return client
