"""Alerts travel on a queue of their own (CRMSYNC_NOTIFICATIONS_QUEUE, `notifications`),
served by the Procfile's `notifier`: a slow webhook receiver never holds an export worker.

The Procfile's `worker` and `notifier` lines run as processes on the shared Redis (queues
of this test's own) and the test database. An alert whose task was lost is sent again by
the export worker's `check_alerts`; that `send_notification` message goes to the
notifications queue, never to the export worker, and the notifier delivers it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from crmsync.celery import app as celery_app
from exports.models import Notification
from tests.alert_fixtures import SECRET, Receiver
from tests.conftest import wait_for
from tests.factories import CRMSettingsFactory
from tests.ops.conftest import Worker, worker_process
from tests.ops.processes import ProcfileProcess
from tests.processes import running

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def export_worker(tmp_path: Path) -> Iterator[Worker]:
    with worker_process(tmp_path, CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS="true") as worker:
        yield worker
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_delete(worker.env["CRMSYNC_NOTIFICATIONS_QUEUE"])


def queued(queue: str) -> int:
    with celery_app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(queue=queue).message_count


def lost_alert(receiver: Receiver) -> Notification:
    """A `paused` alert to `receiver` whose task was lost: still pending an hour later."""
    crm = CRMSettingsFactory(alert_webhook_url=receiver.url, alert_webhook_secret=SECRET)
    notification = Notification.objects.create(
        account=crm.account,
        event="paused",
        channel="webhook",
        target="http://127.0.0.1",
        payload={"event": "paused", "account": crm.account.slug, "at": "2026-12-01T00:00:00Z"},
    )
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Notification.objects.filter(id=notification.id).update(created_at=an_hour_ago)
    return notification


def test_the_export_worker_never_takes_an_alert_and_the_notifier_delivers_it(
    export_worker, receiver, tmp_path
):
    notification = lost_alert(receiver)
    notifications_queue = export_worker.env["CRMSYNC_NOTIFICATIONS_QUEUE"]

    export_worker.send("exports.tasks.check_alerts")
    wait_for(
        lambda: export_worker.lines("exports.tasks.check_alerts[") and (
            export_worker.lines("exports.tasks.send_notification[")
            or queued(notifications_queue)
        ),
        what="the alert is sent again, to one queue or the other",
    )  # fmt: skip

    assert export_worker.lines("exports.tasks.send_notification[") == []
    assert queued(notifications_queue) == 1
    assert Notification.objects.get(id=notification.id).status == "pending"

    notifier = ProcfileProcess(
        "notifier", export_worker.env, tmp_path, extra_args=f"-n ops-notifier-{tmp_path.name}@%h"
    )
    with running(notifier):
        notifier.wait_for_log("ready.")
        wait_for(
            lambda: Notification.objects.get(id=notification.id).status == "sent",
            what="the notifier delivers the alert",
        )

    assert receiver.events() == ["paused"]
    assert "exports.tasks.send_notification[" in notifier.log()
    assert export_worker.lines("exports.tasks.send_notification[") == []
