"""A batch costs the same number of SQL queries whatever its size or number of rejections.

Each test exports the first batch of a fresh run with `exports.export_one_call`
against the sandbox org, counting the queries Django sends (CaptureQueriesContext),
and compares two batches that differ only in size or in how many records are rejected.
A per-record query (an UPDATE per row, a SELECT per record) would make the counts differ.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exports.models import ExportError, ExportRun
from exports.run import runs
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue, export_one_call

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

# A run's first call describes each object it carries (field types, checked before sending).
DESCRIBE = 1


def first_batch(account: Any) -> tuple[int, ExportRun, list[str]]:
    """Start a run of `account`, export its first batch; return (queries, run, SQL)."""
    started = runs.start_run(account.id, ExportRun.Trigger.MANUAL)
    assert isinstance(started, runs.Running), f"nothing to export for {account.slug}"
    with CaptureQueriesContext(connection) as queries:
        export_one_call(account.id, started.run_id, started.after_id)
    sql = [q["sql"] for q in queries.captured_queries]
    return len(sql), ExportRun.objects.get(id=started.run_id), sql


def clean_batch(crm_account: Any, size: int) -> tuple[int, ExportRun, list[str]]:
    account = crm_account(slug=f"clean-{size}", batch_size=size)
    enqueue(account, contacts(size))
    return first_batch(account)


def test_a_batch_of_200_costs_the_queries_of_a_batch_of_10(sandbox, crm_account):
    small, small_run, small_sql = clean_batch(crm_account, 10)
    large, large_run, large_sql = clean_batch(crm_account, 200)

    assert (small_run.exported, large_run.exported) == (10, 200)
    assert (small_run.api_calls, large_run.api_calls) == (DESCRIBE + 1, DESCRIBE + 1)
    assert large == small, "\n".join(large_sql)
    # 8 for the batch (one is the link's claim to send, one the key map's upsert with the
    # records' results; SQLite: two), 5 for the run's end: its records were the last ones
    # waiting, so the link ends the run without reading again
    # (tests/run/test_small_run_queries.py).
    assert large <= 13 + (connection.vendor == "sqlite"), (
        f"a clean batch takes {large} queries:\n" + "\n".join(large_sql)
    )


def test_pause_on_rejection_costs_the_same_queries_late_or_early_in_the_batch(sandbox, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})

    def rejected_at(slug: str, size: int, position: int) -> tuple[int, ExportRun, list[str]]:
        account = crm_account(slug=slug, pause=True, batch_size=size)
        bad = {f"person-{position}": {"Type__c": "Customer"}}
        enqueue(account, contacts(size, **bad))
        return first_batch(account)

    early, early_run, _ = rejected_at("early", 10, 5)
    late, late_run, late_sql = rejected_at("late", 200, 150)

    assert (early_run.outcome, late_run.outcome) == ("paused", "paused")
    assert (early_run.exported, late_run.exported) == (4, 149)
    # One call for the batch, one extra to send the clean prefix again: one per rejection.
    assert (early_run.api_calls, late_run.api_calls) == (DESCRIBE + 2, DESCRIBE + 2)
    assert late == early, "\n".join(late_sql)


def test_pause_off_twenty_rejections_cost_the_queries_of_one(sandbox, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})

    def rejections(slug: str, bad_count: int) -> tuple[int, ExportRun, list[str]]:
        account = crm_account(slug=slug, pause=False, batch_size=200)
        bad = {f"person-{i * 10}": {"Type__c": "Customer"} for i in range(1, bad_count + 1)}
        enqueue(account, contacts(200, **bad))
        return first_batch(account)

    one, one_run, _ = rejections("one-bad", 1)
    twenty, twenty_run, twenty_sql = rejections("twenty-bad", 20)

    assert (one_run.failed, twenty_run.failed) == (1, 20)
    assert (one_run.api_calls, twenty_run.api_calls) == (DESCRIBE + 1, DESCRIBE + 1)
    assert ExportError.objects.filter(status="open").count() == 21
    assert twenty == one, "\n".join(twenty_sql)
