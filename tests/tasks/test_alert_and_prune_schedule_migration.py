"""The second beat migration schedules CRMExport_Alerts every 10 minutes and
CRMExport_Prune daily at 04:00 UTC, tells a running beat, and names real tasks."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from celery.schedules import crontab, schedule
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler

import exports.tasks  # noqa: F401 - registers the task names beat sends
from crmsync.celery import app

pytestmark = pytest.mark.django_db

migration = importlib.import_module("exports.migrations.0006_alert_and_prune_schedule")
NAMES = ["CRMExport_Alerts", "CRMExport_Prune"]


def historical_apps():
    state = MigrationExecutor(connection).loader.project_state(
        ("exports", "0006_alert_and_prune_schedule")
    )
    return state.apps


def test_beat_reads_both_entries_and_their_tasks_exist():
    alerts, prune = (
        DatabaseScheduler.Entry(PeriodicTask.objects.get(name=name), app=app) for name in NAMES
    )

    assert alerts.task == "exports.tasks.check_alerts" and alerts.task in app.tasks
    assert isinstance(alerts.schedule, schedule)
    assert alerts.schedule.run_every == timedelta(minutes=10)
    assert prune.task == "exports.tasks.prune" and prune.task in app.tasks
    assert isinstance(prune.schedule, crontab)
    assert (prune.schedule.hour, prune.schedule.minute) == ({4}, {0})


def test_running_again_keeps_one_of_each_and_reversing_removes_them():
    before = timezone.now()
    migration.create_schedule(historical_apps(), None)
    migration.create_schedule(historical_apps(), None)

    assert [PeriodicTask.objects.filter(name=n).count() for n in NAMES] == [1, 1]
    assert PeriodicTask.objects.filter(name="CRMExport").exists()  # 0002's are untouched
    assert PeriodicTasks.last_change() >= before

    migration.remove_schedule(historical_apps(), None)

    assert not PeriodicTask.objects.filter(name__in=NAMES).exists()
    assert PeriodicTask.objects.filter(name="CRMExport").exists()
