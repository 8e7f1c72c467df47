"""Several workers evaluating one account at once tell each change once: the change is
claimed by one compare-and-swap UPDATE, and only its winner writes the Notifications."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, transaction
from django.utils import timezone

from exports.alerts import evaluate as alerts
from exports.alerts.rules import RunEnd
from exports.models import AlertState, ExportCursor, Notification
from tests.factories import CRMSettingsFactory, ExportErrorFactory, ExportRecordFactory

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]
WORKERS = 6


def paused_account():
    crm = CRMSettingsFactory(alert_emails="ops@example.com", alert_webhook_url="")
    error = ExportErrorFactory(record=ExportRecordFactory(account=crm.account))
    ExportCursor.objects.create(
        account=crm.account,
        state="paused",
        paused_record=error.record,
        paused_since=timezone.now(),
        last_error_code=error.error_code,
        last_error_message=error.message,
    )
    AlertState.objects.create(account=crm.account)  # all workers read the same version
    return crm.account, error.record


def all_at_once(evaluate) -> list[list[str]]:
    barrier = threading.Barrier(WORKERS)
    told: list[list[str]] = []

    def worker(n: int) -> None:
        barrier.wait()
        try:
            with transaction.atomic():
                told.append([str(e.name) for e in evaluate(n)])
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return told


def test_six_workers_evaluating_a_pause_at_once_tell_it_once():
    account, _ = paused_account()

    told = all_at_once(lambda n: alerts.evaluate(account.id))

    assert sorted(told) == [[]] * (WORKERS - 1) + [["paused"]]
    assert list(Notification.objects.values_list("event", "channel")) == [("paused", "email")]
    assert AlertState.objects.get(account=account).version == 1
    assert [m for m in told if m] == [["paused"]]


def test_the_same_failed_login_evaluated_by_six_workers_counts_once():
    account, _ = paused_account()
    AlertState.objects.filter(account=account).update(auth_failures=1)
    failure = RunEnd(41, "failed", "invalid_grant", "authentication failure")

    all_at_once(lambda n: alerts.evaluate(account.id, failure))

    assert AlertState.objects.get(account=account).auth_failures == 2
