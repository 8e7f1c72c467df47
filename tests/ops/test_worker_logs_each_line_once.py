"""The worker's log has each `export.*` line once (README › Logs), in the worker's format.

A Celery worker gives the root logger a handler of its own; crmsync's loggers must not
print through a second one (crmsync/celery.py `log_through_celery`).
"""

from __future__ import annotations

import pytest

from exports.models import ExportRun
from tests.conftest import wait_for
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
    # `export.run` is logged after the outcome commits, then the task's own line follows.
    wait_for(
        lambda: [x for x in worker.lines("succeeded in") if "exports.tasks.export_batch[" in x],
        timeout=30,
        what="the link task's 'succeeded' line after export.run",
    )
    for kind in ("export.run.start ", "export.batch ", "export.run "):
        lines = worker.lines(kind + tag)
        assert len(lines) == 1, f"{kind}: {lines}"
        assert "INFO/ForkPoolWorker" in lines[0] or "INFO/MainProcess" in lines[0], lines[0]
