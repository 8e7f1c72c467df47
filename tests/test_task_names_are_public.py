"""The five public task names are registered and run with JSON arguments only."""

from __future__ import annotations

import json

import pytest

from crmsync.celery import app
from exports.models import ExportError, ExportRun
from tests.conftest import wait_for
from tests.factories import ExportErrorFactory
from tests.pipeline_fixtures import contacts, enqueue

PUBLIC = [
    "exports.tasks.export_due_accounts",
    "exports.tasks.run_export",
    "exports.tasks.export_batch",
    "exports.tasks.reexport_errors",
    "exports.tasks.reexport_error",
]


def test_public_task_names_are_registered():
    app.loader.import_default_modules()
    assert set(PUBLIC) <= set(app.tasks)


@pytest.mark.integration
def test_tasks_run_by_name_with_json_arguments(sandbox, celery_worker, crm_account):
    account = crm_account()
    enqueue(account, contacts(3))
    args = json.loads(json.dumps([account.id]))  # what Flower would send

    app.send_task("exports.tasks.run_export", args=args, kwargs={"trigger": "api"})
    wait_for(lambda: ExportRun.objects.filter(account=account, outcome="completed").exists())

    enqueue(account, contacts(2, start=10))  # the tick starts runs where records wait
    app.send_task("exports.tasks.export_due_accounts")
    wait_for(
        lambda: (
            ExportRun.objects.filter(account=account, trigger="schedule")
            .exclude(outcome="")
            .exists()
        )
    )

    # A requeued export_batch carries no chain and a stale position: harmless.
    app.send_task("exports.tasks.export_batch", args=[account.id, 1, 0])
    error = ExportErrorFactory(account=account, record__account=account)
    app.send_task("exports.tasks.reexport_error", args=[error.id])
    wait_for(lambda: ExportError.objects.get(id=error.id).status != "open")
    app.send_task("exports.tasks.reexport_errors", kwargs={"account_id": account.id})
    wait_for(
        lambda: (
            ExportRun.objects.filter(account=account, trigger="reexport")
            .exclude(outcome="")
            .exists()
        ),
        what="a finished re-export run",
    )
    assert ExportRun.objects.filter(account=account).exclude(outcome="").count() >= 3
