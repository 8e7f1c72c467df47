"""A task given the id of a deleted account, or a run of another account, fails with a
one-line error naming the id (or, for a link that is not current, does nothing) and
changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exports import tasks
from exports.models import ExportCursor, ExportError, ExportRecord, ExportRun
from exports.run.task_arguments import ExportRequestError
from tests.factories import (
    AccountFactory,
    CRMSettingsFactory,
    ExportErrorFactory,
    ExportRecordFactory,
)

pytestmark = pytest.mark.django_db


def rows() -> list[Any]:
    return [
        list(ExportRun.objects.order_by("id").values()),
        list(ExportCursor.objects.order_by("id").values()),
        list(ExportError.objects.order_by("id").values()),
        ExportRecord.objects.count(),
    ]


def as_flower_would(task: Any, *args: Any, **kwargs: Any) -> Any:
    return task.apply(args=json.loads(json.dumps(args)), kwargs=json.loads(json.dumps(kwargs)))


@pytest.fixture
def deleted_account_ids():
    gone = CRMSettingsFactory(account=AccountFactory(slug="gone")).account
    error = ExportErrorFactory(record=ExportRecordFactory(account=gone))
    ids = gone.id, error.id
    gone.delete()
    CRMSettingsFactory(account=AccountFactory(slug="still-here"))
    return ids


def test_tasks_for_a_deleted_account_fail_naming_it(deleted_account_ids):
    account_id, error_id = deleted_account_ids
    before = rows()
    for task, args, expected in [
        (tasks.run_export, [account_id], f"account {account_id} does not exist"),
        (tasks.reexport_errors, [account_id], f"account {account_id} does not exist"),
        (tasks.reexport_error, [error_id], f"export error {error_id} does not exist"),
    ]:
        result = as_flower_would(task, *args)
        assert result.failed() and isinstance(result.result, ExportRequestError), task.name
        assert expected in str(result.result)
    assert as_flower_would(tasks.export_batch, account_id, 1, 0).successful()  # stale: no-op
    assert rows() == before


def test_a_run_of_another_account_is_refused():
    mine = CRMSettingsFactory(account=AccountFactory(slug="mine")).account
    theirs = CRMSettingsFactory(account=AccountFactory(slug="theirs")).account
    their_run = ExportRun.objects.create(account=theirs, trigger="api")
    ExportCursor.objects.update_or_create(account=theirs, defaults={"run_id": their_run.id})
    ExportRecordFactory(account=mine)
    before = rows()

    result = as_flower_would(tasks.run_export, mine.id, trigger="api", run_id=their_run.id)
    assert result.failed()
    assert f"run {their_run.id} is not an unfinished run of account {mine.id}" in str(result.result)
    assert as_flower_would(tasks.export_batch, mine.id, their_run.id, 0).successful()  # no-op
    assert rows() == before
