"""A link (one export_batch task) makes calls one after the other for up to
CRMSYNC_LINK_SECONDS, reading each call's records while the one before is in flight; the
same link redelivered or retried after it moved the cursor goes on from the cursor, and
any other link that finds the cursor moved does nothing."""

from __future__ import annotations

from typing import Any

import pytest

from exports.models import ExportCursor, ExportRun
from exports.run import failures, link, runs, steps
from tests.pipeline_fixtures import CUSTOMER_NEEDS_EMAIL, contacts, enqueue, written_external_ids

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

# A run's first call describes each object it carries (field types, checked before sending).
DESCRIBE = 1


def start(account: Any) -> Any:
    started = runs.start_run(account.id, ExportRun.Trigger.MANUAL)
    assert isinstance(started, runs.Running)
    return started


def test_one_link_makes_every_call_in_order(sandbox, crm_account, settings):
    settings.CRMSYNC_LINK_SECONDS = 60
    account = crm_account(slug="one-link", batch_size=10)  # calls of 5 batches of 10
    enqueue(account, contacts(180))
    started = start(account)

    step = link.export_link(account.id, started.run_id, started.after_id, link_id="L1")

    run = ExportRun.objects.get(id=started.run_id)
    assert not isinstance(step, steps.Next)
    assert (run.outcome, run.exported, run.api_calls) == ("completed", 180, DESCRIBE + 4)
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 181)]
    assert ExportCursor.objects.get(account=account).link_id == "L1"


def test_a_rejection_stops_the_link_and_nothing_read_ahead_is_sent(sandbox, crm_account, settings):
    settings.CRMSYNC_LINK_SECONDS = 60
    sandbox.set_rules({"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}})
    account = crm_account(slug="paused-link", pause=True, batch_size=10)
    enqueue(account, contacts(180, **{"person-75": {"Type__c": "Customer"}}))
    started = start(account)

    step = link.export_link(account.id, started.run_id, started.after_id, link_id="L1")

    run = ExportRun.objects.get(id=started.run_id)
    assert not isinstance(step, steps.Next)
    assert (run.outcome, run.exported) == ("paused", 74)
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 75)]


def test_the_same_link_goes_on_from_the_cursor_another_does_nothing(sandbox, crm_account, settings):
    settings.CRMSYNC_LINK_SECONDS = 0  # one call per link
    account = crm_account(slug="resume", batch_size=10)
    enqueue(account, contacts(120))
    started = start(account)
    first = link.export_link(account.id, started.run_id, started.after_id, link_id="L1")
    assert isinstance(first, steps.Next)

    # A copy of the message that ended (the same try): stale, nothing sent.
    copy = link.export_link(account.id, started.run_id, started.after_id, link_id="L1")
    # The same link retried (its next try): it goes on from the cursor.
    again = link.export_link(account.id, started.run_id, started.after_id, link_id="L1", link_try=1)
    # Another link with the old position (a requeued copy): stale, nothing sent.
    other = link.export_link(account.id, started.run_id, started.after_id, link_id="L2")

    assert copy == steps.Stopped(steps.STALE)
    assert isinstance(again, steps.Next) and again.after_id > first.after_id
    assert not isinstance(other, steps.Next)
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 101)]
    assert ExportRun.objects.get(id=started.run_id).api_calls == DESCRIBE + 2


def test_a_link_that_moved_the_cursor_and_then_failed_fails_its_run(sandbox, crm_account, settings):
    settings.CRMSYNC_LINK_SECONDS = 0
    account = crm_account(slug="fail", batch_size=10)
    enqueue(account, contacts(120))
    started = start(account)
    link.export_link(account.id, started.run_id, started.after_id, link_id="L1")

    gave_up = RuntimeError("gave up")
    failures.fail_link(account.id, started.run_id, started.after_id, gave_up, 7, link_id="L2")
    assert ExportRun.objects.get(id=started.run_id).outcome == ""
    failures.fail_link(account.id, started.run_id, started.after_id, gave_up, 7, link_id="L1")
    assert ExportRun.objects.get(id=started.run_id).outcome == "failed"
