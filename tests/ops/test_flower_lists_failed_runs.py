"""The README's Flower query for failed runs lists them, with the reason a person reads.

A run fails in the link that meets the failure: its first link is made by its
`run_export` (a refused login fails it there), further links are `export_batch` tasks.
That task ends in Celery's FAILURE state with the run's reason, so one of the README's two
queries (`GET /api/tasks?taskname=exports.tasks.run_export&state=FAILURE`, the same with
`export_batch`) finds it.
"""

from __future__ import annotations

import pytest

from exports.models import ExportRun
from tests.conftest import wait_for
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

README_QUERIES = [
    {"taskname": "exports.tasks.run_export", "state": "FAILURE"},
    {"taskname": "exports.tasks.export_batch", "state": "FAILURE"},
]


def test_a_run_that_failed_shows_in_flowers_failed_tasks(flower, sandbox, crm_account):
    account = crm_account(client_secret="wrong-secret-value")
    enqueue(account, contacts(3))

    answer = flower.apply("exports.tasks.run_export", args=[account.id])
    assert answer.status_code == 200, answer.text
    run = wait_for(
        lambda: ExportRun.objects.filter(account=account).exclude(outcome="").first(), timeout=30
    )
    assert run.outcome == ExportRun.Outcome.FAILED

    def failed_tasks() -> dict[str, dict[str, str]]:
        return {k: v for query in README_QUERIES for k, v in flower.tasks(**query).items()}

    failed = wait_for(failed_tasks, timeout=30, what="Flower's queries")
    (task,) = failed.values()
    assert task["name"] == "exports.tasks.run_export"  # the first link met the refusal
    assert task["args"] == f"[{account.id}]"  # as Flower sent them
    assert task["exception"].startswith("RunFailed(")
    assert f"account {account.slug}" in task["exception"]
    assert "invalid_client" in task["exception"]
    assert "Check the client id and the secrets" in task["exception"]
    assert "wrong-secret-value" not in str(task)
