"""Two beat processes and three workers, `CRMExport` every second on three accounts for
2 minutes, "Run export now" every 2 s on top, and one worker killed on the way: several
workers start runs of one account at once, and still no two runs of an account ever hold its
lease at the same time (asserted from ExportRun started/finished times)."""

from __future__ import annotations

import time

import pytest

from exports.models import ExportRun
from tests.chaos.checks import Report, check_export, export_done, tokens, workload
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

RECORDS = 5_000  # per account
DURATION_S = 120  # the issue: two beats and three workers for 2 minutes
SLUGS = ("alpha", "beta", "gamma")


def manual_runs_until(chaos, accounts, deadline: float) -> None:
    """Besides the beats, "Run export now" twice (a double click, or the admin and Flower
    at once) for every account every 2 s, so that runs of one account are certainly asked
    for at the same moment: the two beats share the schedule's last_run_at in the database
    and often send a tick once, the tick sends no run to an account whose run is going on,
    and a started run's first link goes before other runs start (docs/operations.md › Deployment ›
    Queues), so one run each would rarely meet another."""
    while time.monotonic() < deadline:
        for account in accounts:
            chaos.send("exports.tasks.run_export", account.id, "manual")
            chaos.send("exports.tasks.run_export", account.id, "manual")
        tick = time.monotonic() + 2
        wait_for(lambda t=tick: time.monotonic() >= t, timeout=5, interval=0.2)


def test_two_beats_three_workers_never_run_one_account_twice(chaos, chaos_account, sandbox):
    rejects = {"alpha": {900, 4_321}, "beta": set(), "gamma": {2_500}}
    accounts = {
        slug: chaos_account(
            slug,
            workload(slug, RECORDS, 1_250, rejects[slug]),
            pause=False,
            batch_size=100,
            max_records_per_run=300,
        )
        for slug in SLUGS
    }
    # Runs must overlap in time for the lease to have something to refuse: a call of 300
    # records at 0-50 ms is over too fast for two run_export messages to meet reliably.
    sandbox.set_faults(latency_ms=250)
    chaos.schedule_export(every_s=1)
    workers = [chaos.worker() for _ in range(3)]
    beats = [chaos.beat(), chaos.beat()]

    started = time.monotonic()
    manual_runs_until(chaos, accounts.values(), started + DURATION_S / 3)
    workers[1].kill_hard()  # its run's lease expires; another worker's run takes over
    chaos.worker()
    manual_runs_until(chaos, accounts.values(), started + DURATION_S)
    for account in accounts.values():
        wait_for(lambda a=account: export_done(a), timeout=180, interval=0.5)

    total = Report(f"3 two beats + three workers, 3 accounts, {DURATION_S} s (pause off)")
    writes = sandbox.writes()
    for slug, account in accounts.items():
        total.add(check_export(slug, writes, account, tokens(slug, rejects[slug])))
    skipped = ExportRun.objects.filter(outcome=ExportRun.Outcome.SKIPPED_LOCKED).count()
    assert skipped > 0, "the lease never turned a duplicate run away: the test did not race"
    for beat in beats:
        assert "Sending due task CRMExport" in beat.log(), f"{beat.name} never sent CRMExport"
    total.process_restarts = chaos.crashes
    total.assert_clean()
