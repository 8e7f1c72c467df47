"""The README's Flower query for failed runs lists them, with the reason a person reads.

A run fails in the link that meets the failure (a refused login here): that
`exports.tasks.export_batch` task ends in Celery's FAILURE state with the run's reason,
so `GET /api/tasks?taskname=exports.tasks.export_batch&state=FAILURE` finds it.
"""

from __future__ import annotations

import pytest

from exports.models import ExportRun
from tests.conftest import wait_for
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

README_QUERY = {"taskname": "exports.tasks.export_batch", "state": "FAILURE"}


def test_a_run_that_failed_shows_in_flowers_failed_tasks(flower, sandbox, crm_account):
    account = crm_account(client_secret="wrong-secret-value")
    enqueue(account, contacts(3))

    answer = flower.apply("exports.tasks.run_export", args=[account.id])
    assert answer.status_code == 200, answer.text
    run = wait_for(
        lambda: ExportRun.objects.filter(account=account).exclude(outcome="").first(), timeout=30
    )
    assert run.outcome == ExportRun.Outcome.FAILED

    failed = wait_for(lambda: flower.tasks(**README_QUERY), timeout=30, what="Flower's query")
    (task,) = failed.values()
    assert task["args"] == f"({account.id}, {run.id}, 0)"  # account, run, after record
    assert task["exception"].startswith("RunFailed(")
    assert "invalid_client" in task["exception"]
    assert "Check the client id and the secrets" in task["exception"]
    assert "wrong-secret-value" not in str(task)
    # The task that only started the run did its job.
    started = flower.tasks(taskname="exports.tasks.run_export")
    assert {t["state"] for t in started.values()} == {"SUCCESS"}
