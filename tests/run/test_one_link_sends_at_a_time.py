"""A link sends only while it holds its account's claim to send: a copy of a live link (a
requeue from Flower with the live arguments, a redelivery while the first copy runs)
sends nothing and moves nothing; the holder's own copy waits for the claim to expire,
then goes on from the cursor; a request whose claim ran out never goes out."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from exports.models import ExportCursor, ExportRun
from exports.run import failures, link, runs, steps
from salesforce.client import ClaimRanOut
from salesforce.reuse import reusable_gateway
from tests.pipeline_fixtures import contacts, enqueue, written_external_ids

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def started_run(crm_account: Any, records: int = 30) -> tuple[Any, runs.Running]:
    account = crm_account(slug="fenced", batch_size=10)
    enqueue(account, contacts(records))
    started = runs.start_run(account.id, ExportRun.Trigger.MANUAL)
    assert isinstance(started, runs.Running)
    return account, started


def hold_claim(account: Any, link_id: str, seconds: float, link_try: int = 0) -> None:
    """The cursor as a link that claimed it (and still sends, or whose worker died) left it."""
    ExportCursor.objects.filter(account=account).update(
        link_id=link_id,
        link_try=link_try,
        claim_expires_at=timezone.now() + timedelta(seconds=seconds),
    )


def test_a_copy_of_a_live_link_sends_nothing_and_says_who_holds_it(
    sandbox, crm_account, settings, caplog
):
    settings.CRMSYNC_LINK_SECONDS = 60
    account, started = started_run(crm_account)
    hold_claim(account, "live-link", 60)
    before = ExportCursor.objects.get(account=account)

    with caplog.at_level(logging.WARNING, logger="exports.pipeline"):
        step = link.export_link(account.id, started.run_id, started.after_id, link_id="flower")

    after = ExportCursor.objects.get(account=account)
    assert step == steps.Stopped(steps.STALE)
    assert written_external_ids(sandbox) == []
    assert (after.last_exported_id, after.link_id, after.claim_expires_at) == (
        before.last_exported_id,
        "live-link",
        before.claim_expires_at,
    )
    stale = [r.getMessage() for r in caplog.records if "export.batch.stale" in r.getMessage()]
    assert len(stale) == 1 and "holder=live-link" in stale[0]


def test_the_holders_own_copy_waits_for_the_claim_then_goes_on(sandbox, crm_account, settings):
    settings.CRMSYNC_LINK_SECONDS = 60
    account, started = started_run(crm_account)
    hold_claim(account, "L1", 40)

    waited = link.export_link(account.id, started.run_id, started.after_id, link_id="L1")

    assert isinstance(waited, steps.Wait) and 39 <= waited.seconds <= 42
    assert written_external_ids(sandbox) == []

    hold_claim(account, "L1", -1)  # its worker was lost: the claim expired
    went_on = link.export_link(account.id, started.run_id, started.after_id, link_id="L1")

    assert not isinstance(went_on, steps.Wait | steps.Next)
    assert written_external_ids(sandbox) == [f"person-{i}" for i in range(1, 31)]
    assert ExportRun.objects.get(id=started.run_id).outcome == "completed"


def test_an_earlier_try_of_a_retried_link_is_stale(sandbox, crm_account, settings):
    account, started = started_run(crm_account)
    hold_claim(account, "L1", 60, link_try=2)  # its third try sends

    step = link.export_link(account.id, started.run_id, started.after_id, link_id="L1", link_try=1)

    assert step == steps.Stopped(steps.STALE)
    assert written_external_ids(sandbox) == []


def test_a_link_that_failed_does_not_end_a_run_another_link_goes_on_with(crm_account):
    account, started = started_run(crm_account)
    hold_claim(account, "live-link", 60)

    gave_up = RuntimeError("gave up")
    failures.fail_link(account.id, started.run_id, started.after_id, gave_up, 7, link_id="copy")
    assert ExportRun.objects.get(id=started.run_id).outcome == ""

    failures.fail_link(
        account.id, started.run_id, started.after_id, gave_up, 7, link_id="live-link"
    )
    assert ExportRun.objects.get(id=started.run_id).outcome == "failed"


def test_a_request_whose_claim_ran_out_never_goes_out(sandbox, crm_account):
    account = crm_account(slug="late")
    gateway = reusable_gateway(runs.load_settings(account.id))
    gateway.send_by = time.monotonic() - 1

    with pytest.raises(ClaimRanOut):
        gateway.upsert_collection(
            "Contact", "ExtId__c", [{"ExtId__c": "p1", "LastName": "A"}], True
        )

    assert written_external_ids(sandbox) == []
