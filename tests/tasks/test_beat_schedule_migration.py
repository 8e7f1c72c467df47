"""The beat migration schedules CRMExport every 5 minutes and CRMExport_ExportError daily
at 03:00 UTC, and tells a running beat that the schedule changed."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from celery.schedules import crontab, schedule
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
)
from django_celery_beat.schedulers import DatabaseScheduler

from crmsync.celery import app

pytestmark = pytest.mark.django_db

migration = importlib.import_module("exports.migrations.0002_beat_schedule")


def historical_apps():
    """The models as the migration sees them."""
    state = MigrationExecutor(connection).loader.project_state(("exports", "0002_beat_schedule"))
    return state.apps


def test_migrations_created_the_export_task_every_5_minutes():
    task = PeriodicTask.objects.get(name="CRMExport")

    assert task.task == "exports.tasks.export_due_accounts"
    assert (task.interval.every, task.interval.period) == (5, IntervalSchedule.MINUTES)
    assert task.crontab is None
    assert task.enabled
    assert (task.args, task.kwargs) == ("[]", "{}")
    assert "Export to CRM" in task.description


def test_migrations_created_the_daily_reexport_at_3_utc():
    task = PeriodicTask.objects.get(name="CRMExport_ExportError")

    assert task.task == "exports.tasks.reexport_errors"
    assert task.interval is None
    cron = task.crontab
    assert (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week) == (
        "0",
        "3",
        "*",
        "*",
        "*",
    )
    assert str(cron.timezone) == "UTC"
    assert task.enabled


def test_beat_reads_both_entries_with_their_schedules():
    # Beat's own Entry for each row. Not `all_as_schedule()`: django-celery-beat leaves out
    # crontab tasks whose hour is far from the current one, so that would depend on the clock.
    export, reexport = (
        DatabaseScheduler.Entry(PeriodicTask.objects.get(name=name), app=app)
        for name in ("CRMExport", "CRMExport_ExportError")
    )
    assert export.task == "exports.tasks.export_due_accounts"
    assert isinstance(export.schedule, schedule)
    assert export.schedule.run_every == timedelta(minutes=5)
    assert reexport.task == "exports.tasks.reexport_errors"
    assert isinstance(reexport.schedule, crontab)
    assert (reexport.schedule.hour, reexport.schedule.minute) == ({3}, {0})
    assert reexport.schedule.day_of_week == set(range(7))


def test_running_the_migration_again_keeps_one_of_each():
    before = timezone.now()

    migration.create_schedule(historical_apps(), None)
    migration.create_schedule(historical_apps(), None)

    assert PeriodicTask.objects.filter(name="CRMExport").count() == 1
    assert PeriodicTask.objects.filter(name="CRMExport_ExportError").count() == 1
    assert IntervalSchedule.objects.filter(every=5, period="minutes").count() == 1
    assert CrontabSchedule.objects.filter(minute="0", hour="3").count() == 1
    assert PeriodicTasks.last_change() >= before


def test_running_again_restores_an_edited_task():
    PeriodicTask.objects.filter(name="CRMExport_ExportError").update(
        task="exports.tasks.wrong", crontab=None, interval=IntervalSchedule.objects.first()
    )

    migration.create_schedule(historical_apps(), None)

    task = PeriodicTask.objects.get(name="CRMExport_ExportError")
    assert (task.task, task.interval, task.crontab.hour) == (
        "exports.tasks.reexport_errors",
        None,
        "3",
    )


def test_reversing_removes_both_tasks_and_their_schedules():
    before = timezone.now()

    migration.remove_schedule(historical_apps(), None)

    assert not PeriodicTask.objects.filter(name__in=["CRMExport", "CRMExport_ExportError"]).exists()
    assert not IntervalSchedule.objects.filter(every=5, period="minutes").exists()
    assert not CrontabSchedule.objects.filter(minute="0", hour="3").exists()
    assert PeriodicTasks.last_change() >= before
