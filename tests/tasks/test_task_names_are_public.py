"""The five public task names are registered and run with JSON arguments only.

Each task is sent by name, as Flower or beat sends it, and the test waits for that task
itself to end (the in-process worker's `task_postrun`), not for a row another task may
also write: a finished re-export run is written by `reexport_error` too, so waiting for
one let the test end with `reexport_errors` (and the stale `export_batch`) still queued
on the session's worker, to run against the next test's rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import task_postrun

from crmsync.celery import app
from exports.models import ExportCursor, ExportError, ExportRun
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
ENDED = {"SUCCESS", "FAILURE"}  # (a retry is not an end)


def test_public_task_names_are_registered():
    app.loader.import_default_modules()
    assert set(PUBLIC) <= set(app.tasks)


@pytest.fixture
def ended() -> Iterator[dict[str, str]]:
    """Task id → the state the in-process worker's task ended in."""
    states: dict[str, str] = {}

    def record(task_id: str, state: str | None = None, **_: Any) -> None:
        if state in ENDED:
            states[task_id] = state

    task_postrun.connect(record, weak=False)
    yield states
    task_postrun.disconnect(record)


@pytest.fixture
def run_by_name(ended: dict[str, str]) -> Any:
    """Send a task by name with JSON arguments and wait until that task has ended."""

    def send(task: str, *args: Any, **kwargs: Any) -> None:
        as_sent = json.loads(json.dumps({"args": args, "kwargs": kwargs}))  # what Flower sends
        task_id = app.send_task(task, args=as_sent["args"], kwargs=as_sent["kwargs"]).id
        state = wait_for(lambda: ended.get(task_id), timeout=60, what=f"{task} to end")
        assert state == "SUCCESS", f"{task}{args}: {state}"

    return send


@pytest.mark.integration
def test_tasks_run_by_name_with_json_arguments(sandbox, celery_worker, crm_account, run_by_name):
    account = crm_account()
    enqueue(account, contacts(3))

    run_by_name("exports.tasks.run_export", account.id, trigger="api")
    wait_for(
        lambda: ExportRun.objects.filter(account=account, outcome="completed").exists(),
        what="the run's chain to complete it",
    )

    enqueue(account, contacts(2, start=10))  # the tick starts runs where records wait
    run_by_name("exports.tasks.export_due_accounts")
    wait_for(
        lambda: (
            ExportRun.objects.filter(account=account, trigger="schedule")
            .exclude(outcome="")
            .exists()
        ),
        what="the run the tick started to end",
    )
    cursor = ExportCursor.objects.get(account=account)

    # A requeued export_batch carries no chain and a stale position: harmless.
    run_by_name("exports.tasks.export_batch", account.id, 1, 0)
    moved = ExportCursor.objects.get(account=account)
    assert (moved.last_exported_id, moved.run_id) == (cursor.last_exported_id, None)

    error = ExportErrorFactory(account=account, record__account=account)
    run_by_name("exports.tasks.reexport_error", error.id)
    assert ExportError.objects.get(id=error.id).status != "open"
    assert (
        ExportRun.objects.filter(account=account, trigger="reexport").exclude(outcome="").exists()
    )

    run_by_name("exports.tasks.reexport_errors", account_id=account.id)
    assert ExportRun.objects.filter(account=account).exclude(outcome="").count() >= 3
