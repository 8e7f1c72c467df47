"""Timeouts, 5xx and row locks are retried with backoff; they never become ExportErrors."""

from __future__ import annotations

from collections import Counter

import pytest

from exports.models import ExportError, ExportRun
from exports.tools.runner import run_and_wait
from tests.pipeline_fixtures import contacts, enqueue, written_external_ids

pytestmark = pytest.mark.integration

ALL = [f"person-{i}" for i in range(1, 451)]


def export_with(sandbox, crm_account, pause, batch_size=200, **faults):
    account = crm_account(pause=pause, timeout_seconds=1.0, batch_size=batch_size)
    enqueue(account, contacts(450))
    sandbox.set_faults(**faults)
    run = run_and_wait(account, ExportRun.Trigger.SCHEDULE, timeout=90)
    assert run.outcome == ExportRun.Outcome.COMPLETED
    assert not ExportError.objects.exists()
    return run


@pytest.mark.parametrize("pause", [True, False], ids=["pause on", "pause off"])
@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"fail_next": 3, "fail_status": 503}, id="503 for the next 3 requests"),
        pytest.param({"lock_rows_next": 5}, id="UNABLE_TO_LOCK_ROW on 5 rows"),
        pytest.param(
            {"lock_rows_next": 5, "lock_wrapped": True},
            id="UNABLE_TO_LOCK_ROW wrapped in CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY on 5 rows",
        ),
    ],
)
def test_refused_requests_are_retried_and_everything_is_written_once(
    sandbox, celery_worker, crm_account, faults, pause
):
    run = export_with(sandbox, crm_account, pause, **faults)

    assert sorted(written_external_ids(sandbox)) == sorted(ALL)
    assert run.api_calls > 1  # 450 records fit one clean call: the refused ones were counted


@pytest.mark.parametrize("pause", [True, False], ids=["pause on", "pause off"])
def test_a_stall_past_the_timeout_is_retried(sandbox, celery_worker, crm_account, pause):
    """A request that times out may still have been applied by the org (so may Salesforce):
    the retry writes the same batch again — same records, same values, same order — and
    nothing else twice."""
    export_with(sandbox, crm_account, pause, batch_size=50, stall_next=1, stall_ms=2000)

    writes = sandbox.writes()
    written = [w["external_id"] for w in writes]
    twice = {ext for ext, n in Counter(written).items() if n > 1}
    assert sorted(set(written)) == sorted(ALL)
    assert twice <= set(ALL[:250])  # at most the stalled first call (5 batches of 50)
    values = {}
    for w in writes:  # a record written twice carries the same values both times
        assert values.setdefault(w["external_id"], w["fields"]) == w["fields"]
