"""A pause is told again by the periodic check after the account's delay, then once a day,
and never in between, however often the check runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from exports.alerts import evaluate as alerts
from exports.models import ExportCursor, Notification
from exports.tasks import check_alerts
from tests.factories import CRMSettingsFactory, ExportErrorFactory, ExportRecordFactory

pytestmark = pytest.mark.django_db


def test_reminders_after_the_delay_and_then_daily(settings):
    settings.CRMSYNC_ALERT_EMAILS = "ops@example.com"
    crm = CRMSettingsFactory(still_paused_after_hours=6)
    error = ExportErrorFactory(record=ExportRecordFactory(account=crm.account))
    start = timezone.now()
    ExportCursor.objects.create(
        account=crm.account, state="paused", paused_record=error.record, paused_since=start
    )

    told = []
    for hours in (0, 1, 5, 6, 7, 12, 29, 30, 31, 54):  # the check, at these hours
        alerts.check_all(now=start + timedelta(hours=hours, minutes=1))
        told.append(
            list(Notification.objects.order_by("created_at").values_list("event", flat=True))
        )

    assert told[0] == ["paused"]
    assert told[3] == told[4] == told[5] == told[6] == ["paused", "still_paused"]  # 6 h, not before
    assert told[7] == told[8] == ["paused", "still_paused", "still_paused"]  # 30 h
    assert told[9] == ["paused", "still_paused", "still_paused", "still_paused"]  # 54 h
    reminder = Notification.objects.filter(event="still_paused").order_by("created_at").last()
    assert reminder.payload["paused_seconds"] >= 54 * 3600
    assert reminder.payload["record_id"] == error.record_id


def test_the_beat_task_runs_the_check(settings):
    settings.CRMSYNC_ALERT_EMAILS = "ops@example.com"
    crm = CRMSettingsFactory()
    error = ExportErrorFactory(record=ExportRecordFactory(account=crm.account))
    ExportCursor.objects.create(account=crm.account, state="paused", paused_record=error.record)

    result = check_alerts.apply().get()

    assert result["accounts"] == 1
    assert list(Notification.objects.values_list("event", flat=True)) == ["paused"]
