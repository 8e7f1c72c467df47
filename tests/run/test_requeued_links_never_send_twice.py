"""At most one link of a run sends at any moment, whatever copies of it exist: copies of
the live link requeued from Flower with its arguments, the live link's own message
redelivered while it still runs, a `run_export` naming the live run (docs/operations.md › Runbook ›
Requeue from Flower: every task is safe to run twice, also while the original still runs).

One worker of three pool processes (prefork: copies run beside the live link) exports an
account whose RECORDS records cycle over KEYS external ids, so each key is written
RECORDS / KEYS times with a rising version (tests/chaos/checks.py `workload`: `Seq__c` =
"slug:position", the key's version is position // KEYS), to the sandbox org answering
every request after LATENCY_MS. Every call carries each key once (BATCH_SIZE x 5 = KEYS),
so a call sent again after the live link's next one writes every key backwards. While the
run goes on, every ROUND_S, the test reads the cursor and sends what Flower would: two or
three copies of the live link, one with its task id, and a `run_export(account, "api",
live run)` (tests/hosts.py `requeue_live_link`). It waits for the run to end and every
message to be done, then reads the sandbox's write log and the org:

1. per key, the version written never goes backwards (the message shows the key's writes,
   `v<version>@w<write log seq>`, around the first step back);
2. pause on: nothing at or after the parked record is ever written;
3. every key ends at its newest version that went through, in the write log and in the org;
4. copies do not multiply writes: one write per record that went through, plus at most
   EXTRA_WRITES;
5. the one run ends `paused` at the rejected record (pause on) or `completed` with the
   rejected record an open ExportError and the cursor at the end (pause off).

Each runs with two org caps (CRMSYNC_ORG_CONCURRENCY). 1, as the owner of a slow org sets
it: a copy that got past a check made before sending waits for the org's one slot and sends
once the live link has gone on, so a check that is not a claim held into the send shows
as keys written backwards every time. The default 10: copies race the live link head-on,
so a claim must also hold under true concurrency (without one, copies send the same calls
again: twice the writes, and keys backwards when a copy's call lands after the next one).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import pytest

from exports.models import ExportCursor, ExportError, ExportRecord
from tests.chaos.checks import (
    RULES,
    KeyWrite,
    export_done,
    history_text,
    key_histories,
    keys_gone_backwards,
    lease_holding_runs,
    workload_position,
)
from tests.conftest import wait_for
from tests.hosts import (
    NO_REDELIVERY,
    live_link,
    messages_left,
    requeue_live_link,
    sandbox_accounts,
    send_runs,
    stop_all,
    worker_host,
)

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

SLUG = "fenced"
RECORDS = 3_000
KEYS = 50
BATCH_SIZE = 10  # x 5 batches per call = 50 records: each call writes every key once
REJECTED = RECORDS // 2 + 7  # a Customer without an email, in the middle (checks.RULES)
LATENCY_MS = 100
ROUND_S = 0.3  # copies are sent this often while the run goes on
RUN_TIMEOUT_S = 90
# Copies add no write. The one resend the design allows is a call whose answer was lost
# (a timeout after the org applied it) sent again whole: one call's records. No fault here
# loses an answer, so this only keeps the check from naming a legitimate resend a copy.
EXTRA_WRITES = BATCH_SIZE * 5
# Links of 5 s: the live link's own message, sent again, finds it still running.
DEPLOYED = {
    **NO_REDELIVERY,
    "CRMSYNC_LINK_SECONDS": "5",
    "CRMSYNC_ORG_SLOT_WAIT_S": "30",  # below the soft time limit
    # The claim to send: the request timeout + 1 + 3 s; a copy of the live link's own
    # message waits that long before it looks again (and finds itself stale).
    "CRMSYNC_CLAIM_MARGIN_S": "3",
}
# An org cap of 1: a copy waits for the org's one slot while the live link goes far ahead
# (today's bug wrote every key backwards). Of 10: copies race the live link head-on.


@dataclass
class Exported:
    """What the test saw: the account's run, its writes in the org's order, how many rounds
    of copies went out while the run was going on, and the worker's log for messages."""

    run_id: int
    writes: list[dict]
    rounds: int
    seconds: float
    logs: str


def export_while_requeueing(sandbox, broker, tmp_path, pause: bool, org_cap: int) -> Exported:
    """Export the account while copies of its live link are requeued every ROUND_S; return
    once the run ended, every message was done and nothing is in flight to the org."""
    sandbox.set_rules(RULES)
    sandbox.set_faults(latency_ms=LATENCY_MS)
    [account] = sandbox_accounts(
        sandbox,
        [SLUG],
        RECORDS,
        KEYS,
        reject={REJECTED},
        batch_size=BATCH_SIZE,
        pause_on_export_errors=pause,
        timeout_seconds=10,
    )
    env = {**DEPLOYED, "CRMSYNC_ORG_CONCURRENCY": str(org_cap)}
    worker = worker_host("host-a", tmp_path, broker, sandbox, concurrency=3, env=env)
    pause_token = f"{SLUG}:{REJECTED}" if pause else None
    try:
        worker.start().wait_for_log(" ready.")
        started = time.monotonic()
        send_runs(broker, [account.id])
        live = wait_for(lambda: live_link(account.id), timeout=30, what="the run holding the lease")
        rounds = 0
        while not export_done(account, pause_token):
            assert time.monotonic() - started < RUN_TIMEOUT_S, f"run not over\n{worker.tail()}"
            if requeue_live_link(broker, account.id, copies=2 + rounds % 2) is not None:
                rounds += 1
            next_round = time.monotonic() + ROUND_S
            wait_for(
                lambda t=next_round: time.monotonic() >= t or export_done(account, pause_token),
                timeout=ROUND_S + 30,
                what="the next round of copies",
            )
        seconds = time.monotonic() - started
        # Copies still queued when the run ended must do nothing either: let them all run.
        wait_for(lambda: messages_left(broker) == 0, timeout=60, what="every message done")
    finally:
        logs = stop_all([worker])
    wait_for(lambda: sandbox.stats()["requests_in_flight"] == 0, timeout=30, what="org idle")
    return Exported(live.run_id, sandbox.writes(), rounds, seconds, logs)


def expected_end(pause: bool) -> int:
    """The last workload position the export reaches: before the parked record, or the end."""
    return REJECTED - 1 if pause else RECORDS - 1


def newest_positions(end: int) -> dict[str, int]:
    """Per key, the newest workload position up to `end` that the org accepts."""
    newest = {}
    for position in range(end + 1):
        if position != REJECTED:
            newest[f"{SLUG}-p{position % KEYS}"] = position
    return newest


def assert_never_backwards(histories: dict[str, list[KeyWrite]]) -> None:
    """Per key, no write carries an older version than one written before it."""
    gone_back = keys_gone_backwards(histories)
    if not gone_back:
        return
    first = sorted(gone_back, key=lambda ext: histories[ext][gone_back[ext]].seq)[:5]
    shown = "\n".join(history_text(e, histories[e], KEYS, around=gone_back[e]) for e in first)
    pytest.fail(
        f"{len(gone_back)} of {len(histories)} keys were written older-after-newer (a copy of "
        f"a link sent a call after the live link had written newer values); the first, as "
        f"v<version>@w<write log seq>:\n{shown}",
        pytrace=False,
    )


def assert_newest_everywhere(sandbox, histories: dict[str, list[KeyWrite]], end: int) -> None:
    """Every key's last write, and the org's record, is its newest accepted version."""
    newest = newest_positions(end)
    last_written = {ext: history[-1].position for ext, history in histories.items()}
    org = {
        record["ExtId__c"]: workload_position({"fields": record}, SLUG)
        for record in sandbox.records("Contact", ["ExtId__c", "Seq__c"])
    }
    wrong = sorted(
        ext for ext, p in newest.items() if last_written.get(ext) != p or org.get(ext) != p
    )
    if set(org) != set(newest):
        pytest.fail(f"the org holds other keys: {sorted(set(org) ^ set(newest))}", pytrace=False)
    if not wrong:
        return
    shown = "\n".join(
        f"{ext}: newest v{newest[ext] // KEYS}, the org holds v{org[ext] // KEYS}; "
        + history_text(ext, histories[ext], KEYS, around=len(histories[ext]) - 1)
        for ext in wrong[:5]
    )
    pytest.fail(f"{len(wrong)} keys do not end at their newest version:\n{shown}", pytrace=False)


def assert_no_extra_writes(writes: list[dict], end: int) -> None:
    """Copies add no write: one per record that went through, plus EXTRA_WRITES."""
    positions = Counter(workload_position(w, SLUG) for w in writes)
    positions.pop(None, None)
    records = end + 1 - (1 if REJECTED <= end else 0)
    total = sum(positions.values())
    if total <= records + EXTRA_WRITES:
        return
    again = sum(1 for n in positions.values() if n > 1)
    most = ", ".join(f"{SLUG}-p{p % KEYS} v{p // KEYS} x{n}" for p, n in positions.most_common(3))
    pytest.fail(
        f"{total} writes for {records} records (at most {EXTRA_WRITES} more allowed): "
        f"{again} records were written more than once, e.g. {most}",
        pytrace=False,
    )


def assert_raced(exported: Exported) -> None:
    """The proof is only as good as the race: copies went out all along the run."""
    assert exported.rounds >= 5, (
        f"only {exported.rounds} rounds of copies went out in {exported.seconds:.1f} s: the "
        f"run was over before the test raced it\n{exported.logs}"
    )


@pytest.mark.usefixtures("transactional_db")
def test_copies_of_the_live_link_send_nothing_with_pause_on(sandbox, broker, tmp_path):
    org_cap = 1
    """Pause on: the run parks at the rejected record; per key never backwards, nothing
    after the parked record written, every key at its newest version before it."""
    exported = export_while_requeueing(sandbox, broker, tmp_path, True, org_cap)
    print(f"pause on: {exported.rounds} rounds of copies, run {exported.seconds:.1f} s")
    assert_raced(exported)
    histories = key_histories(exported.writes, SLUG)
    assert_never_backwards(histories)
    positions = [(w["seq"], w["external_id"], workload_position(w, SLUG)) for w in exported.writes]
    after = [(seq, ext, p) for seq, ext, p in positions if p is not None and p >= REJECTED]
    if after:
        pytest.fail(
            f"{len(after)} writes of the parked record (position {REJECTED}) or after it, the "
            f"first (write log seq, key, position): {after[:5]}",
            pytrace=False,
        )
    end = expected_end(pause=True)
    assert_newest_everywhere(sandbox, histories, end)
    assert_no_extra_writes(exported.writes, end)

    parked = ExportRecord.objects.get(fields__contains={"Seq__c": f"{SLUG}:{REJECTED}"})
    runs = lease_holding_runs(parked.account)
    assert [(r.id, r.outcome) for r in runs] == [(exported.run_id, "paused")], exported.logs
    cursor = ExportCursor.objects.get(account=parked.account)
    before = ExportRecord.objects.filter(account=parked.account, id__lt=parked.id).latest("id")
    assert (cursor.paused_record_id, cursor.last_exported_id) == (parked.id, before.id)
    errors = ExportError.objects.filter(account=parked.account)
    assert [(e.record_id, e.status) for e in errors] == [(parked.id, "open")]


@pytest.mark.usefixtures("transactional_db")
def test_copies_of_the_live_link_send_nothing_with_pause_off(sandbox, broker, tmp_path):
    org_cap = 10
    """Pause off: the rejected record is an ExportError and the run goes on to the end; per
    key never backwards, every key at its newest version."""
    exported = export_while_requeueing(sandbox, broker, tmp_path, False, org_cap)
    print(f"pause off: {exported.rounds} rounds of copies, run {exported.seconds:.1f} s")
    assert_raced(exported)
    histories = key_histories(exported.writes, SLUG)
    assert_never_backwards(histories)
    end = expected_end(pause=False)
    assert_newest_everywhere(sandbox, histories, end)
    assert_no_extra_writes(exported.writes, end)

    rejected = ExportRecord.objects.get(fields__contains={"Seq__c": f"{SLUG}:{REJECTED}"})
    runs = lease_holding_runs(rejected.account)
    assert [(r.id, r.outcome) for r in runs] == [(exported.run_id, "completed")], exported.logs
    cursor = ExportCursor.objects.get(account=rejected.account)
    last = ExportRecord.objects.filter(account=rejected.account).latest("id")
    assert (cursor.last_exported_id, cursor.paused_record_id, cursor.run_id) == (
        last.id,
        None,
        None,
    )
    errors = ExportError.objects.filter(account=rejected.account)
    assert [(e.record_id, e.status) for e in errors] == [(rejected.id, "open")]
