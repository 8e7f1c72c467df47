"""A run's links travel on a queue of their own (`<queue>.links`), which a worker takes from
in turn with the queue runs start on: while one account's long run goes on, the runs a tick
starts for many small accounts are not queued behind it, and the long run keeps going
while they are exported (it is not queued behind all of their starts either).

One worker thread, short links: in a single FIFO queue the tick's run starts would
all come before the long run's next link, and the small accounts' first links after it, so
the long run would make at most one link while the small accounts are exported.
"""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone

from accounts.models import Account, CRMSettings
from exports.models import ExportRun
from exports.tasks import export_due_accounts, run_export
from tests.conftest import wait_for
from tests.pipeline_fixtures import enqueue

pytestmark = [pytest.mark.integration]

SMALL_ACCOUNTS = 10
SMALL_RECORDS = 10
BIG_PER_CALL = 50  # batch_size 10 x 5 batches per call


def items(prefix: str, n: int) -> list[dict[str, object]]:
    return [
        {
            "sobject": "Contact",
            "external_id_field": "ExtId__c",
            "external_id": f"{prefix}-{i}",
            "fields": {"LastName": f"{prefix} {i}"},
        }
        for i in range(1, n + 1)
    ]


def exporting(accounts: list[Account], on: bool) -> None:
    CRMSettings.objects.filter(account__in=accounts).update(
        export_enabled=on, updated_at=timezone.now()
    )


def test_a_long_run_and_a_ticks_small_runs_take_turns(
    sandbox, celery_worker, crm_account, settings
):
    settings.CRMSYNC_LINK_SECONDS = 0.05  # a few calls per link; a small run needs one link
    settings.CRMSYNC_ADAPTIVE_CALLS = False
    big = crm_account(slug="big", batch_size=10)
    enqueue(big, items("big", 200 * BIG_PER_CALL))
    small = [crm_account(slug=f"small-{k}") for k in range(SMALL_ACCOUNTS)]
    for k, account in enumerate(small):
        enqueue(account, items(f"s{k}", SMALL_RECORDS))
    exporting(small, False)  # the tick below starts them

    run_export.delay(big.id, trigger="schedule")
    wait_for(lambda: len(sandbox.writes()) >= 3 * BIG_PER_CALL, what="the long run under way")
    exporting(small, True)
    assert sorted(export_due_accounts()) == sorted(a.id for a in small)  # the big one is running
    wait_for(
        lambda: (
            ExportRun.objects.filter(account__in=small, outcome="completed").count()
            == SMALL_ACCOUNTS
        ),
        timeout=60,
        what="every small account's run completed",
    )

    writes = [w["external_id"] for w in sandbox.writes()]
    small_at = [i for i, ext in enumerate(writes) if not ext.startswith("big-")]
    assert len(small_at) == SMALL_ACCOUNTS * SMALL_RECORDS
    during = [ext.split("-")[0] for ext in writes[small_at[0] : small_at[-1]]]
    # Each stretch of the long run's writes between small accounts' is one link at least.
    big_stretches = sum(1 for who, _ in itertools.groupby(during) if who == "big")
    # Taking turns: about one long-run link per small run; one queue: one at most.
    assert big_stretches >= SMALL_ACCOUNTS // 2, [
        (who, len(list(g))) for who, g in itertools.groupby(during)
    ]
    assert ExportRun.objects.get(account=big).outcome == ""  # still going
    exporting([big], False)  # its next link ends it (nothing left queued)
    wait_for(lambda: ExportRun.objects.get(account=big).outcome, what="the long run stopped")
