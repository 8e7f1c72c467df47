"""Requeue from Flower: the runbook's HTTP calls work against the real stack.

The Procfile's `worker` and `flower` lines run as processes on the shared Redis (a queue
of this module's own) and the test database; the sandbox org runs in this process and
the worker reaches it over HTTPS. The calls are the README runbook's:
`POST /api/task/async-apply/exports.tasks.run_export` and `.../reexport_error` with a
JSON body `{"args": [...], "kwargs": {...}}` and basic auth. Without auth: 401.
The `flower` fixture (tests/ops/conftest.py) runs the two processes.
"""

from __future__ import annotations

import pytest
import requests

from exports.models import ExportCursor, ExportError, ExportRun
from tests.conftest import wait_for
from tests.ops.conftest import USER
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue, written_external_ids

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _finished_run(account_id: int, trigger: str) -> ExportRun | None:
    return (
        ExportRun.objects.filter(account_id=account_id, trigger=trigger)
        .exclude(outcome="")
        .order_by("-id")
        .first()
    )


def test_requeue_run_export_and_reexport_error_through_flower(flower, sandbox, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(pause=True)
    ids = enqueue(account, contacts(5, **{"person-3": {"Type__c": "Customer"}}))

    # run_export: a run starts in the worker process and pauses at person-3.
    answer = flower.apply("exports.tasks.run_export", args=[account.id], kwargs={"trigger": "api"})
    assert answer.status_code == 200, answer.text
    task_id = answer.json()["task-id"]
    run = wait_for(lambda: _finished_run(account.id, "api"), timeout=30)
    assert run.outcome == ExportRun.Outcome.PAUSED
    assert written_external_ids(sandbox) == ["person-1", "person-2"]
    error = ExportError.objects.get(account=account, status="open")
    assert error.record_id == ids[2]

    # Flower shows the task by its public name with its JSON arguments.
    info = wait_for(
        lambda: (flower.task_info(task_id) or {}).get("args") and flower.task_info(task_id)
    )
    assert info["name"] == "exports.tasks.run_export"
    assert info["args"] == f"[{account.id}]"
    assert "'trigger': 'api'" in info["kwargs"]

    # The rule is fixed; reexport_error writes the record and resolves its error.
    sandbox.set_rules({})
    answer = flower.apply("exports.tasks.reexport_error", args=[error.id])
    assert answer.status_code == 200, answer.text

    def resolved() -> bool:
        error.refresh_from_db()
        return error.status == ExportError.Status.RESOLVED

    wait_for(resolved, timeout=30)
    assert written_external_ids(sandbox)[-1] == "person-3"

    # run_export again: the run resumes at the parked record and completes.
    before = run.id
    answer = flower.apply("exports.tasks.run_export", args=[account.id])
    assert answer.status_code == 200, answer.text
    resumed = wait_for(
        lambda: (r := _finished_run(account.id, "api")) and r.id != before and r, timeout=30
    )
    assert resumed.outcome == ExportRun.Outcome.COMPLETED
    assert resumed.first_record_id == ids[2]
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.state, cursor.last_exported_id) == (ExportCursor.State.IDLE, ids[-1])
    assert written_external_ids(sandbox)[-3:] == ["person-3", "person-4", "person-5"]


def test_flower_api_refuses_requests_without_the_right_login(flower, crm_account):
    account = crm_account()

    for auth in (None, (USER, "wrong")):
        answer = flower.apply("exports.tasks.run_export", auth=auth, args=[account.id])
        assert answer.status_code == 401
        listing = requests.get(f"{flower.url}/api/tasks", auth=auth, timeout=10)
        assert listing.status_code == 401

    # Nothing was queued: a run requested with the login afterwards is the only run
    # (one worker, one task at a time, in order).
    answer = flower.apply("exports.tasks.run_export", args=[account.id])
    assert answer.status_code == 200, answer.text
    wait_for(lambda: _finished_run(account.id, "api"), timeout=30)
    assert ExportRun.objects.filter(account=account).count() == 1
