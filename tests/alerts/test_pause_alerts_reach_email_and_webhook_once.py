"""A pause is told once by email and by a signed webhook, then its recovery, whatever the
number of runs in between (real worker on Redis, the sandbox org over HTTPS, a real HTTP
receiver that checks the signature and keeps each delivery id once)."""

from __future__ import annotations

import time

import pytest
from django.core import mail

from exports.alerts.delivery import signature
from exports.models import Notification
from exports.tasks import send_notification
from exports.tools.runner import run_and_wait
from tests.alert_fixtures import SECRET
from tests.conftest import wait_for
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue

pytestmark = pytest.mark.integration

PAUSE_KEYS = {"record_id", "external_id", "sobject", "error_code", "error_message"}


def alerting_account(crm_account, receiver):
    return crm_account(
        pause=True,
        alert_emails="ops@example.com, oncall@example.com",
        alert_webhook_url=receiver.url,
        alert_webhook_secret=SECRET,
    )


def test_paused_then_resumed_each_told_once_across_many_runs(
    sandbox, celery_worker, crm_account, alerts_to_receiver
):
    receiver = alerts_to_receiver
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = alerting_account(crm_account, receiver)
    ids = enqueue(account, contacts(300, **{"person-120": {"Type__c": "Customer"}}))

    for _ in range(4):  # the first pauses; three more retry the record and stay paused
        assert run_and_wait(account, timeout=60).outcome == "paused"
    wait_for(lambda: receiver.events() == ["paused"], what="the paused webhook")
    sandbox.set_rules({})
    assert run_and_wait(account, timeout=60).outcome == "completed"
    for _ in range(2):  # nothing left: no further alert
        assert run_and_wait(account, timeout=60).outcome == "nothing_to_do"
    wait_for(lambda: receiver.events() == ["paused", "resumed"], what="the resumed webhook")

    paused, resumed = receiver.deliveries
    assert {"id", "event", "account", "at"} | PAUSE_KEYS <= paused.keys()
    assert PAUSE_KEYS <= resumed.keys()
    assert (paused["account"], paused["record_id"], paused["external_id"]) == (
        "acme",
        ids[119],
        "person-120",
    )
    assert (paused["sobject"], paused["error_code"], paused["error_message"]) == (
        "Contact",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Customers need an email",
    )
    assert paused["at"].endswith("Z") and "validation rule" in paused["fix_hint"]
    assert resumed["how"] == "went_through" and resumed["record_id"] == ids[119]
    assert receiver.rejected == 0  # every request carried a valid signature

    subjects = [m.subject for m in mail.outbox]
    bad = ids[119]
    assert subjects == [
        f"[crmsync] acme: export paused at record #{bad} (FIELD_CUSTOM_VALIDATION_EXCEPTION)",
        f"[crmsync] acme: export resumed at record #{bad}",
    ]
    assert mail.outbox[0].to == ["ops@example.com", "oncall@example.com"]
    assert "person-120" in mail.outbox[0].body and "What to do:" in mail.outbox[0].body
    rows = Notification.objects.filter(account=account)
    assert sorted(rows.values_list("event", "channel", "status")) == [
        ("paused", "email", "sent"),
        ("paused", "webhook", "sent"),
        ("resumed", "email", "sent"),
        ("resumed", "webhook", "sent"),
    ]


def test_a_redelivered_alert_keeps_its_id_and_the_receiver_keeps_it_once(
    sandbox, celery_worker, crm_account, alerts_to_receiver
):
    receiver = alerts_to_receiver
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = alerting_account(crm_account, receiver)
    enqueue(account, contacts(5, **{"person-3": {"Type__c": "Customer"}}))
    run_and_wait(account, timeout=60)
    wait_for(lambda: receiver.events() == ["paused"], what="the paused webhook")
    webhook = Notification.objects.get(account=account, channel="webhook")

    # Flower requeues the task: a sent notification is not sent again.
    send_notification.delay(str(webhook.id))
    # A receiver that kept the body but whose answer was lost sees the same id again.
    body = receiver.raw[0]
    headers = {
        "Content-Type": "application/json",
        "X-Crmsync-Signature": signature(SECRET, int(time.time()), body),
    }
    status = receiver.receive(headers, body)
    run_and_wait(account, timeout=60)  # the worker has handled the requeued task by now

    assert status == 200
    assert receiver.events() == ["paused"]
    assert receiver.attempts == 2  # the original POST and the receiver-side redelivery
    webhook.refresh_from_db()
    assert (webhook.status, webhook.attempts) == ("sent", 1)
    assert receiver.deliveries[0]["id"] == str(webhook.id)
