"""The two scheduled jobs (docs/semantics.md › Scheduling), as django-celery-beat PeriodicTasks.

Admins edit them in the admin (Periodic tasks). A data migration works on historical
models, whose save signals do not fire, so it bumps PeriodicTasks itself: that row
is how a running beat (DatabaseScheduler) notices the schedule changed.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.utils import timezone

EXPORT_TASK = {
    "name": "CRMExport",
    "task": "exports.tasks.export_due_accounts",
    "description": (
        "Every 5 minutes: starts an export run for each active account with "
        '"Export to CRM" on. An account whose run is still going is skipped, so '
        "a shorter interval only adds skipped runs."
    ),
    # A run message older than one interval is dropped: the next one replaces it,
    # so a stopped worker does not come back to a queue of stale runs.
    "expire_seconds": 300,
}
REEXPORT_TASK = {
    "name": "CRMExport_ExportError",
    "task": "exports.tasks.reexport_errors",
    "description": (
        "Daily at 03:00 UTC: sends every open export error's record to Salesforce "
        "again (fixed validation rules, permissions, triggers). Errors that go "
        "through are resolved; those overtaken by newer exported data are superseded."
    ),
    "expire_seconds": None,
}
TASK_NAMES = [EXPORT_TASK["name"], REEXPORT_TASK["name"]]
CRONTAB_DAILY_3AM = {
    "minute": "0",
    "hour": "3",
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

    every_5_minutes = _first_or_create(IntervalSchedule, every=5, period="minutes")
    daily = _first_or_create(CrontabSchedule, **CRONTAB_DAILY_3AM)
    for spec, schedule in (
        (EXPORT_TASK, {"interval": every_5_minutes, "crontab": None}),
        (REEXPORT_TASK, {"interval": None, "crontab": daily}),
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
    IntervalSchedule.objects.filter(every=5, period="minutes", periodictask=None).delete()
    CrontabSchedule.objects.filter(**CRONTAB_DAILY_3AM, periodictask=None).delete()
    _tell_beat(apps)


def _first_or_create(model: Any, **values: Any) -> Any:
    """Schedules have no unique constraint, so there may be several equal ones: reuse one."""
    return model.objects.filter(**values).order_by("pk").first() or model.objects.create(**values)


def _tell_beat(apps: Any) -> None:
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
