"""Requeue from Flower: the runbook's HTTP calls work against the real stack.

The Procfile's `worker` and `flower` lines run as processes on the shared Redis (a queue
of this module's own) and the test database; the sandbox org runs in this process and
the worker reaches it over HTTPS. The calls are the README runbook's:
`POST /api/task/async-apply/exports.tasks.run_export` and `.../reexport_error` with a
JSON body `{"args": [...], "kwargs": {...}}` and basic auth. Without auth: 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from exports.models import ExportCursor, ExportError, ExportRun
from tests.conftest import wait_for
from tests.ops.processes import ProcfileProcess, stack_env
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue, written_external_ids
from tests.processes import free_port, running
from tests.services import require_redis

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

USER, PASSWORD = "ops", "s3cret-flower"


@dataclass
class Flower:
    url: str
    worker: ProcfileProcess
    flower: ProcfileProcess

    def apply(self, task: str, auth: Any = (USER, PASSWORD), **body: Any) -> requests.Response:
        """POST /api/task/async-apply/<task> with a JSON body, as the runbook's curl does."""
        return requests.post(
            f"{self.url}/api/task/async-apply/{task}", json=body, auth=auth, timeout=10
        )

    def task_info(self, task_id: str) -> dict[str, Any] | None:
        response = requests.get(
            f"{self.url}/api/task/info/{task_id}", auth=(USER, PASSWORD), timeout=10
        )
        return response.json() if response.status_code == 200 else None


@pytest.fixture(scope="module")
def flower(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flower]:
    require_redis()
    tmp = tmp_path_factory.mktemp("flower-stack")
    port = free_port()
    env = stack_env(tmp / "var", FLOWER_BASIC_AUTH=f"{USER}:{PASSWORD}", FLOWER_PORT=str(port))
    worker = ProcfileProcess("worker", env, tmp, extra_args=f"-n ops-flower-{port}@%h")
    flower = ProcfileProcess("flower", env, tmp)
    with running(worker, flower):
        worker.wait_for_log("ready.")
        flower.wait_for_log("Visit me at")
        stack = Flower(f"http://127.0.0.1:{port}", worker, flower)
        wait_for(lambda: _answers(stack), timeout=30)
        yield stack


def _answers(stack: Flower) -> bool:
    try:
        return requests.get(f"{stack.url}/api/workers", auth=(USER, PASSWORD), timeout=2).ok
    except requests.ConnectionError:
        return False


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
