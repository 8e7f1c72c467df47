"""The daily re-export racing regular runs of the same account: they take turns on the
account's lease, the re-export never overwrites data a newer record wrote, and every
ExportError ends resolved (written) or superseded (newer data won)."""

from __future__ import annotations

import pytest

from exports.models import ExportError
from exports.outbox import enqueue_many
from tests.chaos.checks import check_export, export_done, tokens, workload
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

RECORDS = 5_000
NEWER = 600  # enqueued after the errors: newer data for external ids p0..p599


def no_open_errors(account) -> bool:
    return not ExportError.objects.filter(account=account, status="open").exists()


def test_reexport_racing_a_regular_run_keeps_newest_data(chaos, chaos_account, sandbox):
    reject = set(range(37, RECORDS, 100))  # 50 rejections, spread over all external ids
    items = workload("race", RECORDS + NEWER, 1_250, reject)
    account = chaos_account("race", items[:RECORDS], pause=False)
    sandbox.set_faults(latency_ms=50)
    chaos.worker()
    chaos.worker()
    chaos.send("exports.tasks.run_export", account.id, "api")
    wait_for(lambda: export_done(account), timeout=120, interval=0.5)
    assert ExportError.objects.filter(account=account, status="open").count() == len(reject)

    sandbox.set_rules({"faults": {"latency_ms": 50}})  # the admin fixed the org's rule
    enqueue_many(account, items[RECORDS:])
    # Every regular run sent below may find the re-export holding the lease (skipped_locked,
    # as designed): the schedule, as in production, brings the next run.
    chaos.schedule_export(every_s=2)
    chaos.beat()
    for _ in range(3):
        chaos.send("exports.tasks.reexport_errors", account.id)
        chaos.send("exports.tasks.run_export", account.id, "api")
    wait_for(lambda: export_done(account) and no_open_errors(account), timeout=120, interval=0.5)

    statuses = set(ExportError.objects.filter(account=account).values_list("status", flat=True))
    assert statuses <= {"resolved", "superseded"}, statuses
    report = check_export(
        "5 re-export racing a regular run (pause off)",
        sandbox.writes(),
        account,
        tokens("race", reject),
        reexported=True,
    )
    report.process_restarts = chaos.crashes
    report.assert_clean()
