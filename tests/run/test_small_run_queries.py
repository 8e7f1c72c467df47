"""A small run costs few SQL round trips: its fixed cost is queries, not work on records.

A whole run of 50 records — `runs.start_run` and its first link, which starts from the
cursor and settings the start read (what `run_export` does), then any further link
(`link.export_link`, as `export_batch` runs it, until one returns Stopped) — against the
sandbox org, counting the queries Django sends (CaptureQueriesContext). The second run of
an account (its cursor exists) is the common case; the first also creates the cursor.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exports.models import ExportCursor, ExportRun
from exports.run import link, runs, steps
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

# Statements of a whole 50-record run, from start_run to the run's end, as Django sends
# them in a test (SAVEPOINT/RELEASE stand for a transaction's BEGIN/COMMIT: round trips too).
# One of them is the link's claim to send (a compare-and-swap before its first request), one
# the key map's upsert of the call's Salesforce Ids with each record's result (on SQLite,
# two statements). The run's end is written by its last call's cursor move (no transaction
# of its own), then read once for its log line and alerts.
SECOND_RUN_QUERIES = 15
FIRST_RUN_QUERIES = 17


def whole_run(account: Any) -> tuple[int, ExportRun, list[str]]:
    """Start a run of `account` and run its links until the run stops; return (queries,
    run, SQL)."""
    with CaptureQueriesContext(connection) as queries:
        started = runs.start_run(account.id, ExportRun.Trigger.MANUAL)
        assert isinstance(started, runs.Running), f"nothing to export for {account.slug}"
        assert started.cursor is not None and started.crm is not None
        ready: Any = (started.cursor, started.crm)  # the first link's: read by the start
        step: steps.LinkStep = steps.Next(started.after_id)
        while isinstance(step, steps.Next):
            link_id = str(uuid.uuid4())  # a Celery task id: each link has its own
            step = link.export_link(
                account.id, started.run_id, step.after_id, link_id=link_id, started=ready
            )
            ready = None
    sql = [q["sql"] for q in queries.captured_queries]
    return len(sql), ExportRun.objects.get(id=started.run_id), sql


def test_a_small_run_takes_few_queries(sandbox, crm_account):
    account = crm_account(slug="small")
    enqueue(account, contacts(50))
    first, first_run, first_sql = whole_run(account)
    enqueue(account, contacts(50, start=51))
    second, second_run, second_sql = whole_run(account)

    assert (first_run.outcome, first_run.exported) == ("completed", 50)
    assert (second_run.outcome, second_run.exported) == ("completed", 50)
    assert second_run.finished_at is not None and second_run.finished_at >= second_run.started_at
    cursor = ExportCursor.objects.get(account=account)
    assert (cursor.run_id, cursor.lease_expires_at, cursor.claim_expires_at) == (None, None, None)
    assert cursor.state == ExportCursor.State.IDLE
    extra = connection.vendor == "sqlite"
    assert second <= SECOND_RUN_QUERIES + extra, "\n".join(second_sql)
    assert first <= FIRST_RUN_QUERIES + extra, "\n".join(first_sql)
