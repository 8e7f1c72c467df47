"""`exports.reporting.status.account_status`: where an account's export stands, in constant queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exports.models import ExportCursor, ExportError, ExportRun
from exports.reporting.status import account_status
from tests.factories import (
    AccountFactory,
    ExportCursorFactory,
    ExportErrorFactory,
    ExportRecordFactory,
    ExportRunFactory,
)

pytestmark = pytest.mark.django_db

PAUSED_SINCE = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def paused_account():
    """Records #1–#5; done up to #2, paused at #3 with its open error; one more error."""
    account = AccountFactory(slug="acme")
    records = [ExportRecordFactory(account=account) for _ in range(5)]
    error = ExportErrorFactory(record=records[2])
    ExportErrorFactory(record=records[4], error_code="REQUIRED_FIELD_MISSING")
    ExportErrorFactory(record=records[3], status=ExportError.Status.RESOLVED)
    ExportCursorFactory(
        account=account,
        state=ExportCursor.State.PAUSED,
        last_exported_id=records[1].id,
        paused_record=records[2],
        paused_since=PAUSED_SINCE,
        last_error_code=error.error_code,
        last_error_message=error.message,
    )
    for _ in range(25):
        ExportRunFactory(account=account, exported=10, failed=1)
    return account, records, error


def test_paused_account(paused_account):
    account, records, error = paused_account

    status = account_status(account)

    assert (status.state, status.last_exported_id) == ("paused", records[1].id)
    assert (status.paused_record_id, status.paused_external_id) == (
        records[2].id,
        records[2].external_id,
    )
    assert status.paused_error_id == error.id
    assert status.backlog == 3
    assert status.open_errors == 2
    assert status.open_errors_by_code == {
        "FIELD_CUSTOM_VALIDATION_EXCEPTION": 1,
        "REQUIRED_FIELD_MISSING": 1,
    }
    assert len(status.recent_runs) == 20
    assert [r.id for r in status.recent_runs] == sorted(
        (r.id for r in status.recent_runs), reverse=True
    )


def test_as_json_has_the_crm_status_keys(paused_account):
    account, records, _ = paused_account
    paused_error = ExportError.objects.get(record=records[2], status="open")
    last_run = ExportRun.objects.filter(account=account).latest("id")

    assert account_status(account).as_json() == {
        "account": "acme",
        "account_id": account.id,
        "state": "paused",
        "last_exported_id": records[1].id,
        "paused_record_id": records[2].id,
        "paused_external_id": records[2].external_id,
        "paused_operation": "upsert",
        "paused_since": "2025-03-01T12:30:00+00:00",
        "error_code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "error_message": "Customers need an email",
        "paused_error_id": paused_error.id,
        "backlog": 3,
        "open_errors": 2,
        "open_errors_by_code": {
            "FIELD_CUSTOM_VALIDATION_EXCEPTION": 1,
            "REQUIRED_FIELD_MISSING": 1,
        },
        "last_run_id": last_run.id,
        "last_run_outcome": "completed",
        "last_run_message": None,
        "last_run_finished_at": last_run.finished_at.isoformat(),
        "failing": False,
        "records_per_call": 1000,
        "circuit_open_until": None,
        "circuit_reason": None,
    }


def test_an_account_without_a_cursor_is_idle_with_everything_waiting():
    account = AccountFactory()
    ExportRecordFactory.create_batch(3, account=account)

    status = account_status(account).as_json()

    assert status["state"] == "idle"
    assert (status["last_exported_id"], status["backlog"], status["open_errors"]) == (0, 3, 0)
    assert status["paused_record_id"] is None and status["error_code"] is None


def test_queries_do_not_grow_with_the_account(paused_account, django_assert_max_num_queries):
    account, _, _ = paused_account
    for _ in range(30):
        ExportErrorFactory(record=ExportRecordFactory(account=account), error_code="X")

    with django_assert_max_num_queries(5):
        account_status(account)
