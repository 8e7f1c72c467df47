"""The 5-minute tick (`export_due_accounts`) sends a run only to accounts with records after
their cursor and no run going on, in one query whatever the number of accounts: an idle
account costs no run row and no worker time every five minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from exports.run import runs
from tests.factories import (
    AccountFactory,
    CRMSettingsFactory,
    ExportCursorFactory,
    ExportRecordFactory,
)

pytestmark = pytest.mark.django_db


def account(slug, records=0, export=True, done=None, paused_at=None, **cursor):
    """An account with `records` records; its cursor (if any field is given) is past the
    record at index `done` and parked at index `paused_at`."""
    acc = CRMSettingsFactory(account=AccountFactory(slug=slug), export_enabled=export).account
    ids = [ExportRecordFactory(account=acc).id for _ in range(records)]
    if done is not None:
        cursor["last_exported_id"] = ids[done]
    if paused_at is not None:
        cursor["paused_record_id"] = ids[paused_at]
    if cursor:
        ExportCursorFactory(account=acc, **cursor)
    return acc


def test_only_accounts_with_records_waiting_and_no_run_going_on_are_due():
    now = timezone.now()
    waiting = account("waiting", 3, done=0)
    account("all-done", 3, done=2)
    account("running", 3, run_id=99, lease_expires_at=now + timedelta(minutes=5))
    expired = account("lease-expired", 3, run_id=98, lease_expires_at=now - timedelta(minutes=1))
    never_run = account("never-run", 2)
    paused = account("paused", 3, done=0, paused_at=1, state="paused")
    account("export-off", 3, export=False)
    account("empty")

    assert runs.due_account_ids() == sorted([waiting.id, expired.id, never_run.id, paused.id])


def test_the_tick_is_one_query_for_3_or_60_accounts():
    def queries(count: int, prefix: str) -> int:
        for i in range(count):
            account(f"{prefix}-{i}", 1)
        with CaptureQueriesContext(connection) as captured:
            due = runs.due_account_ids()
        assert len(due) >= count
        return len(captured.captured_queries)

    assert queries(3, "few") == queries(60, "many") == 1
