"""The worker's log has each `export.*` line once (docs/operations.md › Logs), in the worker's format.

A Celery worker gives the root logger a handler of its own; crmsync's loggers must not
print through a second one (crmsync/celery.py `log_through_celery`).
"""

from __future__ import annotations

import pytest

from exports.models import ExportRun
from tests.conftest import wait_for
from tests.ops.conftest import Worker
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_each_export_line_once(worker, sandbox, crm_account):
    account = crm_account()
    enqueue(account, contacts(3))

    worker.send("exports.tasks.run_export", account.id, trigger="api")
    run = wait_for(
        lambda: ExportRun.objects.filter(account=account).exclude(outcome="").first(), timeout=30
    )

    assert run.outcome == ExportRun.Outcome.COMPLETED
    tag = f"account={account.slug} run={run.id} "
    wait_for(
        lambda: logged_to_its_end(worker, "export.run " + tag),
        timeout=30,
        what=f"'export.run {tag}' and then the end of the task that logged it",
    )
    for kind in ("export.run.start ", "export.batch ", "export.run "):
        lines = worker.lines(kind + tag)
        assert len(lines) == 1, f"{kind}: {lines}"
        assert "INFO/ForkPoolWorker" in lines[0] or "INFO/MainProcess" in lines[0], lines[0]


def logged_to_its_end(worker: Worker, text: str) -> bool:
    """The worker's log holds `text` and, after it, a link task's end: every copy of a
    line is written before the task that logged it ends.

    The run's outcome commits before `export.run` is logged (`finish_run`), and a run may
    end in its first link (made by `run_export`) or a later one (an `export_batch`: a link
    out of time hands over; one that finds its own claim live sends one again): the end of
    any link, or the outcome alone, may be in the log or the database before `export.run`
    is."""
    lines = worker.process.log().splitlines()
    at = next((i for i, line in enumerate(lines) if text in line), None)
    links = ("exports.tasks.run_export[", "exports.tasks.export_batch[")
    return at is not None and any(
        any(name in line for name in links) and " succeeded in " in line for line in lines[at + 1 :]
    )
