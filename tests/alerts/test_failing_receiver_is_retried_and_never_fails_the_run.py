"""A webhook receiver or mail server that fails never fails or holds up the export run:
the alert is retried with backoff by its own task, and its row says what happened."""

from __future__ import annotations

import socket

import pytest

from exports.models import ExportCursor, Notification
from exports.tools.runner import run_and_wait
from tests.alert_fixtures import SECRET
from tests.conftest import wait_for
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue

pytestmark = pytest.mark.integration


def webhook(account):
    return Notification.objects.filter(account=account, channel="webhook").first()


def test_a_receiver_answering_503_twice_gets_the_alert_on_the_third_try(
    sandbox, celery_worker, crm_account, alerts_to_receiver
):
    receiver = alerts_to_receiver
    receiver.fail_next = 2
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(alert_webhook_url=receiver.url, alert_webhook_secret=SECRET)
    enqueue(account, contacts(10, **{"person-4": {"Type__c": "Customer"}}))

    run = run_and_wait(account, timeout=60)

    assert run.outcome == "paused"
    assert ExportCursor.objects.get(account=account).state == "paused"
    wait_for(lambda: webhook(account) and webhook(account).status == "sent", what="delivery")
    assert webhook(account).attempts == 3
    assert receiver.attempts == 3 and receiver.events() == ["paused"]


def test_a_receiver_that_is_down_leaves_the_run_alone_and_the_row_failed(
    sandbox, celery_worker, crm_account, alerts_to_receiver, settings
):
    settings.CRMSYNC_ALERT_MAX_RETRIES = 2
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(
        alert_webhook_url=f"http://127.0.0.1:{port}/hook", alert_webhook_secret=SECRET
    )
    enqueue(account, contacts(10, **{"person-4": {"Type__c": "Customer"}}))

    run = run_and_wait(account, timeout=60)

    assert run.outcome == "paused" and run.exported == 3
    wait_for(lambda: webhook(account) and webhook(account).status == "failed", what="giving up")
    failed = webhook(account)
    assert failed.attempts == 3  # the first try and 2 retries
    assert f"127.0.0.1:{port} could not be reached" in failed.last_error
