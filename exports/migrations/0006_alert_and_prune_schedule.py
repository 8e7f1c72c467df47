"""Two more scheduled jobs, as django-celery-beat PeriodicTasks (docs/alerts.md › Alerts, Retention):

- `CRMExport_Alerts` every 10 minutes → `exports.tasks.check_alerts`: still-paused
  reminders, error spikes that are over, alerts whose task was lost, run totals for /metrics;
- `CRMExport_Prune` daily at 04:00 UTC → `exports.tasks.prune` (`crm_prune`).

As in 0002_beat_schedule: historical models fire no signals, so PeriodicTasks is bumped
here for a running beat (DatabaseScheduler) to notice; tasks are keyed on their unique
names.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.utils import timezone

ALERTS_TASK = {
    "name": "CRMExport_Alerts",
    "task": "exports.tasks.check_alerts",
    "description": (
        "Every 10 minutes: reminds about exports still paused (after each account's "
        "delay, then daily), ends error spikes that are over, sends alerts whose task was "
        "lost, and rolls finished runs up for /metrics. Alerts on a run's end are sent "
        "at once, not by this job."
    ),
    "expire_seconds": 600,
}
PRUNE_TASK = {
    "name": "CRMExport_Prune",
    "task": "exports.tasks.prune",
    "description": (
        "Daily at 04:00 UTC: deletes exported outbox records, closed export errors, runs "
        "and notifications older than their retention (crm_prune; docs/alerts.md › Retention). "
        "Never a record a run or the re-export still needs."
    ),
    "expire_seconds": None,
}
TASK_NAMES = [ALERTS_TASK["name"], PRUNE_TASK["name"]]
CRONTAB_DAILY_4AM = {
    "minute": "0",
    "hour": "4",
    "day_of_month": "*",
    "month_of_year": "*",
    "day_of_week": "*",
    "timezone": "UTC",
}


def create_schedule(apps: Any, schema_editor: Any) -> None:
    """Create or update both PeriodicTasks (keyed on their unique names) and tell beat."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")

    every_10_minutes = _first_or_create(IntervalSchedule, every=10, period="minutes")
    daily = _first_or_create(CrontabSchedule, **CRONTAB_DAILY_4AM)
    for spec, schedule in (
        (ALERTS_TASK, {"interval": every_10_minutes, "crontab": None}),
        (PRUNE_TASK, {"interval": None, "crontab": daily}),
    ):
        PeriodicTask.objects.update_or_create(
            name=spec["name"],
            defaults={
                "task": spec["task"],
                "description": spec["description"],
                "expire_seconds": spec["expire_seconds"],
                "args": "[]",
                "kwargs": "{}",
                "enabled": True,
                "one_off": False,
                "solar": None,
                "clocked": None,
                **schedule,
            },
        )
    _tell_beat(apps)


def remove_schedule(apps: Any, schema_editor: Any) -> None:
    """Delete both PeriodicTasks, and their schedules if no other task uses them."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")

    PeriodicTask.objects.filter(name__in=TASK_NAMES).delete()
    IntervalSchedule.objects.filter(every=10, period="minutes", periodictask=None).delete()
    CrontabSchedule.objects.filter(**CRONTAB_DAILY_4AM, periodictask=None).delete()
    _tell_beat(apps)


def _first_or_create(model: Any, **values: Any) -> Any:
    """Schedules have no unique constraint, so there may be several equal ones: reuse one."""
    return model.objects.filter(**values).order_by("pk").first() or model.objects.create(**values)


def _tell_beat(apps: Any) -> None:
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0005_notifications"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
