"""Within a link, the next call goes out before the previous call's cursor move is
committed — but only when the two calls write no record in common, so a worker lost
before the commit, which sends both again, never writes an older record after a newer.
A settings change made meanwhile reaches the first call not yet sent (docs/semantics.md).

Each test holds the run's row locked from another connection, so the link blocks in the
commit of its first call, and looks at what the sandbox has received by
then. The link's HTTP thread runs calls one at a time in order, so a no-op submitted to
it after the link blocked returns only when any call sent before the commit is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from accounts.models import CRMSettings
from exports.models import ExportCursor, ExportError, ExportRun
from exports.run import link, overlap, runs
from tests.conftest import lock_waiters, wait_for
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue, written_external_ids

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

# A run's first call describes each object it carries (field types, checked before sending).
DESCRIBE = 1


def first_commit_held(
    sandbox: Any, account: Any, meanwhile: Callable[[], Any] = lambda: None
) -> tuple[list[str], int, ExportRun]:
    """Run one link while its first commit is held, doing `meanwhile` then; return (what the
    sandbox had received when the link was blocked in that commit, the cursor then, the
    run at the end)."""
    started = runs.start_run(account.id, ExportRun.Trigger.MANUAL)
    assert isinstance(started, runs.Running)
    holding, release = threading.Event(), threading.Event()

    def hold_run() -> None:
        try:
            with transaction.atomic():
                # The run's row: its counts are the last write of a call's commit (the
                # cursor's row is updated before the first call too: the claim to send).
                ExportRun.objects.select_for_update().get(id=started.run_id)
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def one_link() -> None:
        try:
            link.export_link(account.id, started.run_id, started.after_id, link_id="L1")
        finally:
            connection.close()

    threads = [threading.Thread(target=hold_run), threading.Thread(target=one_link)]
    threads[0].start()
    try:
        wait_for(holding.is_set, timeout=10, what="the run's row locked")
        threads[1].start()
        wait_for(lambda: lock_waiters() >= 1, timeout=30, what="the link blocked in its commit")
        overlap.http().submit(lambda: None).result(timeout=30)  # calls sent so far are done
        received = written_external_ids(sandbox)
        cursor_then = ExportCursor.objects.get(account=account).last_exported_id
        meanwhile()
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "the link did not finish"
    return received, cursor_then - started.after_id, ExportRun.objects.get(id=started.run_id)


@pytest.fixture(autouse=True)
def _long_links(settings):
    settings.CRMSYNC_LINK_SECONDS = 60


def test_the_next_call_is_in_before_the_first_call_is_committed(sandbox, crm_account):
    account = crm_account(slug="overlap", batch_size=10)  # calls of 5 batches of 10
    enqueue(account, contacts(100))

    received, cursor_moved, run = first_commit_held(sandbox, account)

    assert received == [f"person-{i}" for i in range(1, 101)], "the 2nd call was not sent"
    assert cursor_moved == 0
    assert (run.outcome, run.exported, run.api_calls) == ("completed", 100, DESCRIBE + 2)
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 101)]


def test_a_call_writing_the_same_records_waits_for_the_commit(sandbox, crm_account):
    account = crm_account(slug="no-overlap", batch_size=10)
    enqueue(account, contacts(50) + contacts(50))  # the 2nd call updates the same people

    received, cursor_moved, run = first_commit_held(sandbox, account)

    assert received == [f"person-{i}" for i in range(1, 51)], "the 2nd call went out early"
    assert cursor_moved == 0
    assert (run.outcome, run.exported, run.api_calls) == ("completed", 100, DESCRIBE + 2)
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 51)] * 2


def test_export_turned_off_meanwhile_stops_the_run_before_the_next_unsent_call(
    sandbox, crm_account
):
    account = crm_account(slug="off-meanwhile", batch_size=10)
    enqueue(account, contacts(150))  # three calls of 50

    def turn_off() -> None:
        CRMSettings.objects.filter(account=account).update(export_enabled=False)

    _, _, run = first_commit_held(sandbox, account, meanwhile=turn_off)

    # The 2nd call was already out; the 3rd is not sent.
    assert (run.outcome, run.exported, run.message) == (
        "completed",
        100,
        "Stopped: Export to CRM was turned off.",
    )
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 101)]


def test_pause_turned_off_meanwhile_logs_a_rejection_in_the_next_unsent_call(sandbox, crm_account):
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(slug="pause-off-meanwhile", pause=True, batch_size=10)
    ids = enqueue(account, contacts(150, **{"person-120": {"Type__c": "Customer"}}))

    def pause_off() -> None:
        CRMSettings.objects.filter(account=account).update(pause_on_export_errors=False)

    _, _, run = first_commit_held(sandbox, account, meanwhile=pause_off)

    assert (run.outcome, run.exported, run.failed) == ("completed", 149, 1)
    assert ExportError.objects.get(account=account).record_id == ids[119]
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 151) if i != 120]
