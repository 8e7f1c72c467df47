"""Flower-style task arguments, fuzzed: wrong types, missing ids, ids that do not exist,
ids of another account. Every call fails with a one-line error that names the argument
or the id, or does nothing (a stale link), and changes nothing in the database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports import tasks
from exports.models import ExportCursor, ExportError, ExportRecord, ExportRun
from exports.run.task_arguments import ExportRequestError
from tests.factories import (
    AccountFactory,
    CRMSettingsFactory,
    ExportErrorFactory,
    ExportRecordFactory,
)

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.django_db]

MISSING = 10**9  # an id no row has
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats() | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
not_an_id = json_values.filter(lambda v: not (isinstance(v, int) and not isinstance(v, bool)))
absent_id = st.one_of(st.integers(max_value=0), st.integers(min_value=MISSING, max_value=2**63))


@pytest.fixture
def world():
    """Account A with a run holding its lease, account B with a record and an open error."""
    a = CRMSettingsFactory(account=AccountFactory(slug="a")).account
    b = CRMSettingsFactory(account=AccountFactory(slug="b")).account
    run_a = ExportRun.objects.create(account=a, trigger="api")
    ExportCursor.objects.update_or_create(account=a, defaults={"run_id": run_a.id})
    error_b = ExportErrorFactory(record=ExportRecordFactory(account=b))
    return a, b, run_a, error_b


def snapshot() -> list[Any]:
    return [
        list(ExportRun.objects.order_by("id").values()),
        list(ExportCursor.objects.order_by("id").values()),
        list(ExportError.objects.order_by("id").values()),
        ExportRecord.objects.count(),
    ]


def call(task: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Run the task as a worker would, with arguments that went through JSON (as Flower's)."""
    args, kwargs = json.loads(json.dumps(args)), json.loads(json.dumps(kwargs))
    return task.apply(args=args, kwargs=kwargs)


def assert_clear_failure_or_nothing(result: Any) -> None:
    if not result.failed():
        return
    error = result.result
    # ExportRequestError names the argument; a TypeError only for a call that does not
    # fit the signature ("missing 1 required positional argument: 'after_id'").
    assert isinstance(error, ExportRequestError) or (
        isinstance(error, TypeError) and "argument" in str(error)
    ), repr(error)
    text = str(error)
    assert text and "\n" not in text and "Traceback" not in text


FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(account_id=not_an_id | absent_id, trigger=st.sampled_from(["api", "schedule"]) | json_values)
def test_run_export_with_a_bad_account_id(world, account_id, trigger):
    before = snapshot()
    assert_clear_failure_or_nothing(call(tasks.run_export, [account_id], {"trigger": trigger}))
    assert snapshot() == before


@FUZZ
@given(run_id=not_an_id.filter(lambda v: v is not None) | absent_id)
def test_run_export_with_a_run_id_that_is_not_its_own(world, run_id):
    a, b, run_a, _ = world
    before = snapshot()
    for given_run in (run_id, run_a.id):  # run_a belongs to account a, not b
        result = call(tasks.run_export, [b.id], {"trigger": "api", "run_id": given_run})
        assert result.failed()
        assert_clear_failure_or_nothing(result)
    assert snapshot() == before


@FUZZ
@given(
    args=st.lists(json_values, max_size=5),
    kwargs=st.dictionaries(
        st.sampled_from(["account_id", "run_id", "after_id", "until_id", "only", "x"]),
        json_values,
        max_size=3,
    ),
)
def test_export_batch_with_any_arguments_changes_nothing(world, args, kwargs):
    before = snapshot()
    assert_clear_failure_or_nothing(call(tasks.export_batch, args, kwargs))
    assert snapshot() == before


def test_export_batch_of_another_accounts_run_changes_nothing(world):
    a, b, run_a, _ = world
    before = snapshot()
    result = call(tasks.export_batch, [b.id, run_a.id, 0], {})
    assert not result.failed()  # a link that is not current: nothing to do
    assert snapshot() == before


@FUZZ
@given(error_id=not_an_id | absent_id)
def test_reexport_error_with_a_bad_error_id(world, error_id):
    before = snapshot()
    result = call(tasks.reexport_error, [error_id], {})
    assert result.failed()
    assert_clear_failure_or_nothing(result)
    assert snapshot() == before


@FUZZ
@given(account_id=not_an_id.filter(lambda v: v is not None) | absent_id)
def test_reexport_errors_with_a_bad_account_id(world, account_id):
    before = snapshot()
    result = call(tasks.reexport_errors, [account_id], {})
    assert result.failed()
    assert_clear_failure_or_nothing(result)
    assert snapshot() == before
