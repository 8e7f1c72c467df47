"""A crafted export_batch message (Flower's apply API takes any JSON) cannot steer the
cursor: the retry state (`until_id`, `only`) lives on the server, and a message whose
retry arguments disagree with it does nothing and says why. Every record is still
exported by the next run."""

from __future__ import annotations

import logging

import pytest

from exports import tasks
from exports.models import ExportCursor, ExportRun
from exports.run import link, runs
from exports.tools.runner import run_and_wait
from tests.conftest import wait_for
from tests.pipeline_fixtures import contacts, enqueue, written_external_ids

pytestmark = pytest.mark.integration


def test_a_crafted_retry_message_writes_nothing_and_moves_nothing(
    sandbox, celery_worker, crm_account, caplog
):
    account = crm_account(pause=False)
    ids = enqueue(account, contacts(10))
    started = runs.start_run(account.id, ExportRun.Trigger.API)  # holds the lease at 0
    assert started.after_id == 0

    crafted = tasks.export_batch.apply_async(
        args=[account.id, started.run_id, 0], kwargs={"until_id": ids[-1], "only": [ids[3]]}
    )
    crafted.get(timeout=30)

    assert written_external_ids(sandbox) == []
    cursor = ExportCursor.objects.get(account=account)
    assert cursor.last_exported_id == 0
    assert ExportRun.objects.get(id=started.run_id).outcome == ""

    # It says why (the same link, in this thread: the worker's log lines may reach the
    # capture after the task's result does).
    with caplog.at_level(logging.WARNING, logger="exports.pipeline"):
        link.export_link(account.id, started.run_id, 0, ids[-1], [ids[3]], "crafted")
    assert "export.batch.refused" in caplog.text
    assert written_external_ids(sandbox) == []

    # The run's own link (no retry arguments) exports everything, in order.
    tasks.export_batch.apply_async(args=[account.id, started.run_id, 0])
    wait_for(
        lambda: ExportRun.objects.get(id=started.run_id).outcome == "completed",
        what="the run completed",
    )
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 11)]
    again = run_and_wait(account, ExportRun.Trigger.API, timeout=60)
    assert again.outcome == ExportRun.Outcome.NOTHING_TO_DO
