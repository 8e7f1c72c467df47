"""One link of a run's chain: one `export_batch` task, calls one after the other.

A link sends a call, waits for its answer and applies it (`exports.run.cursor_move`), then
goes on with the next call until CRMSYNC_LINK_SECONDS have passed or the run stops. What
it returns says what the task does next: `Next(after_id)` (the next link follows),
`RetryLater(...)` (the task retries with backoff), `Wait(seconds)` or `Stopped(reason)`
(`exports.run.steps`). The overlap of
calls with the worker's own work is `exports.run.overlap`'s.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from accounts.models import CRMSettings
from exports.alerts.rules import API_LIMIT
from exports.models import ExportCursor, ExportRun
from exports.run import decisions, fence, link_state, overlap, payload
from exports.run.call import Answer, Call, CallPlan
from exports.run.claim import Token
from exports.run.cursor_move import ending, move_cursor
from exports.run.decisions import CallSize
from exports.run.runs import fail_run, finish_run, settings_now, tell_end
from exports.run.steps import (
    LOST_RACE,
    REFUSED,
    RUN_ENDED,
    STALE,
    LinkStep,
    Next,
    RetryLater,
    RunFailed,
    Stopped,
)
from exports.run.task_arguments import ExportRequestError, check_link_arguments
from salesforce.client import GatewayError

log = logging.getLogger("exports.pipeline")  # the export's log stream (docs/operations.md › Logs)

Outcome = ExportRun.Outcome


@dataclass
class Link:
    """What a link knows between its calls: the cursor and the run's record count as its
    own compare-and-swap left them, and the claim to send it holds (`exports.run.fence`).
    Nobody else moves the cursor while the claim is held, so a link reads them once; each
    cursor move still checks them and renews the claim (`move_cursor`)."""

    run_id: int
    claim: fence.Claim
    attempted: int
    # Calls the soft time limit left in flight: the claim is kept for them (`_settle`).
    in_flight: list[Call] = field(default_factory=list)

    @property
    def cursor(self) -> ExportCursor:
        return self.claim.cursor

    def send_by(self, crm: CRMSettings) -> float:
        """(monotonic) The last moment a request may go out under the claim."""
        return self.claim.send_by(crm.timeout_seconds)

    def call_size(self, crm: CRMSettings) -> CallSize:
        """The next call's size (records per call, per batch): adapted to the org
        (`cursor.records_per_call`) under the admin's ceiling."""
        adapted = self.cursor.records_per_call if settings.CRMSYNC_ADAPTIVE_CALLS else None
        return decisions.call_size(adapted, crm.batch_size, settings.CRMSYNC_BATCHES_PER_CALL)

    def budget_after(self, call: Call, crm: CRMSettings) -> int:
        """Records the run may still send after `call`, if `call` goes through whole."""
        return crm.max_records_per_run - self.attempted - len(call.rows)


def export_link(
    account_id: int,
    run_id: int,
    after_id: int,
    until_id: int | None = None,
    only: list[int] | None = None,
    link_id: str = "",
    link_try: int = 0,
    started: tuple[ExportCursor, CRMSettings] | None = None,
) -> LinkStep:
    """One link of a run's chain, as the `export_batch` task runs it (and `run_export`, the
    run's first: `started` is the cursor as its lease left it and the settings it read).

    1. Check the task's arguments (JSON from outside) before any query.
    2. Read the cursor, the run and the settings (one query). Check the link is
       current: the run holds the lease and the cursor is still at
       `after_id` — or this link (`link_id`, its Celery task id) moved it further before
       it was redelivered or retried: then it goes on from the cursor. Otherwise it is a
       stale or duplicate link: it stops and does nothing.
    3. Claim the right to send (`exports.run.claim`, one compare-and-swap on the cursor):
       another link holds it → stop, nothing sent; this link's own live claim (a copy of
       it may still send) → `Wait` until it expires. From here on every request checks
       the claim before it goes out and every cursor move renews it; the link releases it
       when it ends, whatever way it ends.
    4. A retry names its records (`until_id`, `only`): they must be the retry the cursor
       waits for (kept on the server), else the link is refused and does nothing.
    5. Start the first call (`_start_call`): the run ends if Export to CRM is off, its
       record budget is used or no record is left.
    6. Send, answer, apply, call after call (`_calls`) until the link's time is up or
       the run stops.
    """
    deadline = time.monotonic() + settings.CRMSYNC_LINK_SECONDS
    check_link_arguments(account_id, run_id, after_id, until_id, only)
    token = Token(link_id, link_try)
    opened = _open_link(account_id, run_id, after_id, token, started)
    if not isinstance(opened, tuple):
        return opened
    link, crm = opened
    if link.cursor.last_exported_id != after_id:  # a retry's records were the old position's
        after_id, until_id, only = link.cursor.last_exported_id, None, None
    retry = _retry_state(link.cursor)
    if (until_id, only) != (None, None) and (until_id, _sorted(only)) != retry:
        _log_refused(account_id, run_id, after_id, until_id, only, retry)
        return Stopped(REFUSED)
    until_id, only = retry
    not_claimed = fence.take(link.claim, account_id, after_id)
    if not_claimed is not None:
        return not_claimed
    step: LinkStep | None = None
    try:
        overlap.log_in_ahead(crm)  # a link in another worker process than the run's start
        call = _start_call(link, crm, after_id, until_id, only, None)
        step = call if not isinstance(call, Call) else _calls(link, call, deadline)
        return step
    finally:
        if link.in_flight:  # the soft time limit left calls in flight: it expires after them
            fence.kept(link.claim, len(link.in_flight))
        elif not isinstance(step, Stopped):  # (a run's end or a lost race frees it already)
            fence.release(link.claim)


def _calls(link: Link, call: Call, deadline: float) -> LinkStep:
    """Calls one after the other, from `call` (sent) on.

    1. While the call is in flight, time left and records after it, read the settings
       again and the next call's records (`overlap.read_ahead`).
    2. Wait for its answer: a transient fault raises (the task retries), a permanent one
       fails the run (`RunFailed`).
    3. Adapt the records per call to what the call showed.
    4. If it is safe, send the next call before this one's cursor move commits
       (`overlap.follow`).
    5. Apply the answer: move the cursor, open or bump ExportErrors, resolve the parked
       record's error once it went through, add to the run's counts. Another link moved
       the cursor first → stop.
    6. Decide the step (`_next_step`): paused, retry later, near the API limit, or next;
       the call held the last records waiting when read → the run ends, in the cursor
       move of step 5 (a record enqueued since is after the cursor: the next run takes it).
    7. Time left and the run goes on → the next call (step 1); else return the step.
    A call whose answer the link does not use is drained, unless the task's soft time limit
    cut the link: then nothing is waited for (`_settle`).
    """
    following: Call | None = None
    answered = False
    time_up = False
    try:
        while True:
            answered = False
            more = time.monotonic() < deadline and not call.only and not call.last
            crm = settings_now(call.crm) if more else call.crm
            ahead = _read_ahead(link, call, crm) if more else None
            answered = True  # (_answer takes the answer, or raises with it)
            answer = _answer(link, call)
            _adapt(link, call, answer)
            following = _follow(link, call, answer, crm, ahead) if more else None
            ends = ending(call, answer, link.attempted)
            if not _apply(link, call, answer, ends):
                return Stopped(LOST_RACE)
            step = _next_step(link, call, answer)
            if ends:  # no record waited after this call's: its move ended the run
                tell_end(link.run_id)
                return Stopped(RUN_ENDED, ends)
            if not isinstance(step, Next) or (following is None and time.monotonic() >= deadline):
                return step  # (a call already sent is waited for below, its move not committed)
            if following is None and not _keep_claim(link, crm):
                return Stopped(STALE)
            upcoming = following or _start_call(link, crm, step.after_id, None, None, ahead)
            following = None
            if not isinstance(upcoming, Call):
                return upcoming
            call = upcoming
    except SoftTimeLimitExceeded:
        time_up = True  # wherever it stood: in `_answer`'s wait, a query, the read-ahead
        raise
    finally:
        taken = answered and call.answer.done()  # `_answer` took its answer (or its failure)
        _settle(link, [c for c in (None if taken else call, following) if c is not None], time_up)


def _settle(link: Link, unused: list[Call], time_up: bool) -> None:
    """The calls sent whose answers the link will not use.

    1. Wait for each (`overlap.drain`): whoever goes on from the cursor sends its records
       again only after it is done, as after a lost answer.
    2. Not when the task's soft time limit cut the link, or cuts this wait: the time is up,
       and a stalled request may take the request timeout to end. The calls not done are
       left in flight, cut short (`overlap.leave`), and the link keeps its claim to send
       (`export_link`): it expires after any request they can still have in flight
       (`Link.send_by`), so nobody sends their records again (or newer ones of the same
       keys) before they land.
    """
    link.in_flight = unused
    try:
        if not time_up:
            for call in unused:
                overlap.drain(link.run_id, call)
    except SoftTimeLimitExceeded:
        time_up = True
        raise
    finally:
        link.in_flight = [c for c in unused if time_up and not c.answer.done()]
        for call in link.in_flight:
            overlap.leave(call)


def _keep_claim(link: Link, crm: CRMSettings) -> bool:
    return fence.keep(link.claim, crm.timeout_seconds, crm.account_id)


def _read_ahead(link: Link, call: Call, crm: CRMSettings) -> overlap.Ahead | None:
    return overlap.read_ahead(call, link.call_size(crm), link.budget_after(call, crm))


def _follow(
    link: Link, call: Call, answer: Answer, crm: CRMSettings, ahead: overlap.Ahead | None
) -> Call | None:
    """The next call, sent before this one's cursor move commits, if that is safe (the
    call size as `_adapt` left it)."""
    size, budget = link.call_size(crm), link.budget_after(call, crm)
    return overlap.follow(call, answer, crm, ahead, size, budget, link.send_by(crm))


def _retry_state(cursor: ExportCursor) -> tuple[int | None, list[int] | None]:
    """(until_id, only) of the retry the cursor waits for, kept on the server (`move_cursor`)."""
    return cursor.retry_until_id, _sorted(cursor.retry_only)


def _sorted(ids: list[int] | None) -> list[int] | None:
    return sorted(ids) if ids else None


def _log_refused(
    account_id: int,
    run_id: int,
    after_id: int,
    until_id: int | None,
    only: list[int] | None,
    retry: tuple[int | None, list[int] | None],
) -> None:
    log.warning(
        "export.batch.refused account=%s run=%s after=%s until=%s only=%s: the message's "
        "retry arguments are not the retry this cursor waits for (until=%s only=%s); "
        "nothing sent, the cursor stays",
        account_id,
        run_id,
        after_id,
        until_id,
        only,
        *retry,
    )


def _open_link(
    account_id: int,
    run_id: int,
    after_id: int,
    me: Token,
    started: tuple[ExportCursor, CRMSettings] | None,
) -> tuple[Link, CRMSettings] | Stopped:
    """The link's state, its cursor at the position it goes on from, and the account's
    settings; Stopped for a stale link. `started`: the run's start read them (a new run at
    its cursor, nothing attempted yet)."""
    if started is not None:
        return _link(run_id, me, *started, attempted=0)
    cursor, run, position = link_state.read(account_id, run_id, after_id, me.link_id)
    if position is None or cursor is None or run is None:
        log.info("export.batch.stale account=%s run=%s after=%s", account_id, run_id, after_id)
        return Stopped(STALE)
    if position != after_id:
        # This link moved the cursor before it was redelivered or retried: go on from there.
        log.info("export.batch.resume account=%s run=%s after=%s", account_id, run_id, position)
    crm = link_state.related(run.account, "crm_settings")
    if crm is None:
        raise ExportRequestError(f"account {account_id} has no CRM settings")
    return _link(run_id, me, cursor, crm, run.attempted)


def _link(
    run_id: int, me: Token, cursor: ExportCursor, crm: CRMSettings, attempted: int
) -> tuple[Link, CRMSettings]:
    claim_to_send = fence.Claim(run_id, me, cursor, fence.seconds_for(crm.timeout_seconds))
    return Link(run_id, claim_to_send, attempted), crm


def _start_call(
    link: Link,
    crm: CRMSettings,
    after_id: int,
    until_id: int | None,
    only: list[int] | None,
    ahead: overlap.Ahead | None,
) -> Call | Stopped:
    """Send the next call after `after_id`, or end the run (export off, budget used, done)."""
    if not crm.exporting:
        return _end_run(link, Outcome.COMPLETED, "Stopped: Export to CRM was turned off.")
    budget = crm.max_records_per_run - link.attempted
    if budget <= 0 and not only:
        message = "Record budget of this run used; the rest follows."
        return _end_run(link, Outcome.COMPLETED, message)
    size, send_by = link.call_size(crm), link.send_by(crm)
    if overlap.ready(ahead, after_id, size, budget):
        assert ahead is not None
        return overlap.send_call(ahead.plan(crm, send_by))
    if overlap.none_left(ahead, after_id):
        return _run_done(link)
    rows, batches, last = payload.load_call(
        crm.account_id, after_id, until_id, only, size, max(budget, 1)
    )
    if not rows:
        return _run_done(link)
    plan = CallPlan(crm, after_id, rows, batches, size, send_by, last, until_id, only)
    return overlap.send_call(plan)


def _run_done(link: Link) -> Stopped:
    """No record left after the cursor: the run is over."""
    return _end_run(link, Outcome.COMPLETED if link.attempted else Outcome.NOTHING_TO_DO)


def _end_run(link: Link, outcome: str, message: str = "", code: str = "") -> Stopped:
    """The one way a link ends its run (besides failing it: `RunFailed`)."""
    finish_run(link.run_id, outcome, message, code=code, account_id=link.cursor.account_id)
    return Stopped(RUN_ENDED, outcome)


def _answer(link: Link, call: Call) -> Answer:
    """Wait for a call's answer. Transient faults raise (the task retries); a permanent
    one (auth, configuration) fails the run and raises RunFailed."""
    try:
        answer = call.answer.result()
    except GatewayError as exc:
        # Nothing else is in flight now: the gateway's count is this call's.
        if not exc.permanent:
            ExportRun.objects.filter(id=link.run_id).add_api_calls(call.gateway.api_calls)
            raise
        code = exc.code or "CONNECTION_ERROR"
        fail_run(link.run_id, exc.message, code, api_calls=call.gateway.api_calls)
        raise RunFailed(exc.message) from None
    if call.only and answer.decision.cursor_to is not None:
        # The retried records were the call's last loose ends: the whole call is done.
        cursor_to = call.until_id or call.rows[-1].key.id
        answer = dataclasses.replace(
            answer, decision=dataclasses.replace(answer.decision, cursor_to=cursor_to)
        )
    return answer


def _adapt(link: Link, call: Call, answer: Answer) -> None:
    """Adapt the account's records per call to what this call showed (Apex CPU limit, server
    time); the cursor move saves it."""
    if not settings.CRMSYNC_ADAPTIVE_CALLS or call.only:
        return
    current, per_batch = link.call_size(call.crm)
    carried = len(call.rows)
    link.cursor.records_per_call = decisions.next_records_per_call(
        current,
        carried,
        carried if call.crm.pause_on_export_errors else min(carried, per_batch),
        call.crm.batch_size * settings.CRMSYNC_BATCHES_PER_CALL,  # the admin's ceiling
        answer.cpu_limited,
        answer.slowest_call_s,
        settings.CRMSYNC_CALL_TARGET_S,
    )


def _apply(link: Link, call: Call, answer: Answer, ends: str = "") -> bool:
    """Commit the call's answer (and the run's end, `ends`); then `link` holds the cursor
    and count it left."""
    renewed_from, c = time.monotonic(), link.claim
    if not move_cursor(c.cursor, link.run_id, c.token, c.seconds, call, answer, ends):
        return False
    c.renewed(renewed_from)
    link.attempted += len(answer.decision.written) + len(answer.decision.rejected)
    return True


def _next_step(link: Link, call: Call, answer: Answer) -> LinkStep:
    """What follows a committed call: the run parks (paused), the call is retried later,
    the run stops near the daily API limit, or the next call goes on from the cursor."""
    crm, rows, decision, run_id = call.crm, call.rows, answer.decision, link.run_id
    position = decision.cursor_to if decision.cursor_to is not None else call.after_id
    log.info(
        "export.batch account=%s run=%s after=%s sent=%s written=%s rejected=%s retry=%s "
        "api_calls=%s cursor=%s",
        crm.account.slug,
        run_id,
        call.after_id,
        len(rows),
        len(decision.written),
        len(decision.rejected),
        len(decision.retry),
        answer.api_calls,
        position,
    )
    if decision.pause_at is not None:
        return _end_run(link, Outcome.PAUSED, f"Paused at record #{decision.pause_at}.")
    if decision.retry:
        if crm.pause_on_export_errors:
            return RetryLater(position)
        return RetryLater(call.after_id, decision.retry, rows[-1].key.id)
    if answer.near_api_limit(crm):
        used, limit = answer.api_usage or (0, 0)
        message = f"Stopped near the daily API limit ({used}/{limit} used); the rest follows later."
        return _end_run(link, Outcome.COMPLETED, message, code=API_LIMIT)
    return Next(position)
