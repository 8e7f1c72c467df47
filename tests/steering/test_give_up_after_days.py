"""Give up after N days (per account, off by default): the daily re-export marks old errors
`given_up` with one `gave_up` alert a day; they stay visible, count in /metrics, and a
re-export by hand still works."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import CRMSettings
from exports.models import ExportError, Notification, RecordOutcome
from exports.run.reexport import reexport_error, reexport_errors
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, enqueue
from tests.steering.test_skip_the_paused_record import contact

pytestmark = pytest.mark.integration


def failing_account(sandbox, crm_account, days):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=False, alert_emails="ops@example.com", give_up_after_days=days)
    enqueue(account, [contact(f"p{i}", LastName="P", Type__c="Customer") for i in range(3)])
    assert run_and_wait(account, timeout=60).failed == 3
    return account


def test_errors_older_than_n_days_are_given_up_with_one_alert_a_day(
    sandbox, celery_worker, crm_account
):
    account = failing_account(sandbox, crm_account, days=7)
    now = timezone.now()

    early = reexport_errors(account.id, now=now + timedelta(days=6))
    assert (early.given_up, early.failed) == (0, 3)  # still retried

    later = reexport_errors(account.id, now=now + timedelta(days=8))
    again = reexport_errors(account.id, now=now + timedelta(days=8, hours=1))

    assert (later.given_up, later.failed, later.api_calls) == (3, 0, 0)
    assert (again.given_up, again.failed, again.api_calls) == (0, 0, 0)
    assert set(ExportError.objects.values_list("status", flat=True)) == {"given_up"}
    alerts = Notification.objects.filter(account=account, event="gave_up")
    assert alerts.count() == 1
    body = alerts.get().payload
    assert (body["count"], body["codes"]) == (3, {"FIELD_CUSTOM_VALIDATION_EXCEPTION": 3})
    assert RecordOutcome.objects.filter(outcome="given_up").count() == 3

    sandbox.set_rules({})
    error = ExportError.objects.first()
    assert reexport_error(error.id).resolved == 1  # by hand: tried again
    error.refresh_from_db()
    assert error.status == "resolved"


def test_never_is_the_default(sandbox, celery_worker, crm_account):
    account = failing_account(sandbox, crm_account, days=None)

    summary = reexport_errors(account.id, now=timezone.now() + timedelta(days=3650))

    assert (summary.given_up, summary.failed) == (0, 3)


def test_metrics_count_given_up_errors_apart(sandbox, celery_worker, crm_account, client, settings):
    account = failing_account(sandbox, crm_account, days=1)
    reexport_errors(account.id, now=timezone.now() + timedelta(days=2))
    settings.CRMSYNC_METRICS_ALLOW_LOOPBACK = True

    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()

    given = 'crmsync_given_up_export_errors{account="acme",code="FIELD_CUSTOM_VALIDATION_EXCEPTION"} 3.0'
    assert given in text
    assert 'crmsync_open_export_errors{account="acme"' not in text


@pytest.mark.django_db
def test_crm_account_sets_give_up_after_days(crm_account):
    account = crm_account()

    def run(value):
        call_command(
            "crm_account",
            "create",
            account.slug,
            "--give-up-after-days",
            value,
            stdout=io.StringIO(),
        )
        return CRMSettings.objects.get(account=account).give_up_after_days

    assert run("14") == 14
    assert run("never") is None
    with pytest.raises(CommandError):
        run("0")
