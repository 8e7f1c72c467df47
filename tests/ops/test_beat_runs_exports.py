"""Beat starts exports on its own: the `CRMExport` schedule, read from the database.

The Procfile's `beat` (DatabaseScheduler) and `worker` lines run as processes on the
shared Redis (a queue of this test's own) and the test database. The `CRMExport`
PeriodicTask that the migration created is shortened to every second through
django-celery-beat's models, as an admin would; nobody calls a task by hand, and a run
with trigger `schedule` exports the account's records.
"""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from exports.models import ExportCursor, ExportRun
from tests.conftest import wait_for
from tests.ops.processes import ProcfileProcess, stack_env
from tests.pipeline_fixtures import contacts, enqueue, written_external_ids
from tests.processes import running
from tests.services import require_redis

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
migration = importlib.import_module("exports.migrations.0002_beat_schedule")


def test_beat_starts_a_scheduled_run_from_the_database_schedule(tmp_path, sandbox, crm_account):
    require_redis()
    account = crm_account()
    ids = enqueue(account, contacts(30))
    every_second, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS
    )
    # The migration's schedule (transactional tests before this one flushed the tables).
    migration.create_schedule(django_apps, None)
    task = PeriodicTask.objects.get(name="CRMExport")
    task.interval = every_second
    task.save()  # its signal tells a running beat that the schedule changed

    env = stack_env(tmp_path / "var")
    worker = ProcfileProcess("worker", env, tmp_path, extra_args=f"-n ops-beat-{tmp_path.name}@%h")
    beat = ProcfileProcess("beat", env, tmp_path)
    with running(worker, beat):
        worker.wait_for_log("ready.")

        def scheduled_run_completed() -> ExportRun | None:
            return ExportRun.objects.filter(
                account=account, trigger=ExportRun.Trigger.SCHEDULE, outcome="completed"
            ).first()

        run = wait_for(scheduled_run_completed, timeout=45)

    assert "Sending due task CRMExport (exports.tasks.export_due_accounts)" in beat.log()
    assert run.exported == 30
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 31)]
    assert ExportCursor.objects.get(account=account).last_exported_id == ids[-1]
    assert (
        not ExportRun.objects.filter(account=account)
        .exclude(trigger=ExportRun.Trigger.SCHEDULE)
        .exists()
    )
