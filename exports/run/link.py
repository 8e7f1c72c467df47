"""One link of a run's chain: one `export_batch` task, calls one after the other.

A link sends a call, waits for its answer and applies it (`exports.run.cursor_move`), then
goes on with the next call until CRMSYNC_LINK_SECONDS have passed or the run stops. What
it returns says what the task does next: `Next(after_id)` (the next link follows),
`RetryLater(...)` (the task retries with backoff) or `Stopped(outcome)`. The overlap of
calls with the worker's own work is `exports.run.overlap`'s.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError
from django.utils import timezone

from accounts.models import Account, CRMSettings
from exports.alerts.rules import API_LIMIT
from exports.models import ExportCursor, ExportRecord, ExportRun
from exports.run import claim, decisions, outage, overlap, payload
from exports.run.call import Answer, Call
from exports.run.claim import Token
from exports.run.cursor_move import move_cursor
from exports.run.runs import fail_run, finish_run, load_settings
from exports.run.task_arguments import ExportRequestError, check_link_arguments, is_id
from salesforce.client import GatewayError

log = logging.getLogger("exports.pipeline")  # the export's log stream (README › Logs)

Outcome = ExportRun.Outcome

# Why a link stopped without ending its run (another link or run goes on).
STALE = "stale"  # not the run's current link (duplicate, stale, another holds the claim, over)
REFUSED = "refused"  # its retry arguments are not the retry the cursor waits for
LOST_RACE = "lost_race"  # another link moved the cursor first


class RunFailed(Exception):
    """A link ended its run `failed` (the run row and the cursor say why): its task ends in
    Celery's FAILURE state with this message, so Flower's failed tasks list it."""


@dataclass(frozen=True)
class Next:
    """The run goes on: the next link starts after record `after_id`."""

    after_id: int


@dataclass(frozen=True)
class RetryLater:
    """The call failed transiently: send it again later, after record `after_id`; with pause
    off only the records `only` (those not yet done), up to record `until_id`."""

    after_id: int
    only: tuple[int, ...] = ()
    until_id: int | None = None


@dataclass(frozen=True)
class Stopped:
    """No link follows: the run ended with `outcome`, or this link had nothing to do
    (`STALE`, `REFUSED`, `LOST_RACE`) and the run goes on without it."""

    outcome: str


@dataclass(frozen=True)
class Wait:
    """This link's own claim is live (a copy of it may still be sending, or its worker is
    gone): the task looks again in `seconds`, once the claim has expired; nothing sent."""

    seconds: float


LinkStep = Next | RetryLater | Stopped | Wait


@dataclass
class Link:
    """What a link knows between its calls: the cursor and the run's record count as its
    own compare-and-swap left them, and the claim to send it holds (`exports.run.claim`).
    Nobody else moves the cursor while the claim is held, so a link reads them once; each
    cursor move still checks them and renews the claim (`move_cursor`)."""

    run_id: int
    token: Token
    cursor: ExportCursor
    attempted: int
    claim_s: float  # how long a claim (or its renewal) holds
    claim_until: float = 0.0  # (monotonic) the claim holds until then, as last renewed

    def send_by(self, crm: CRMSettings) -> float:
        """(monotonic) The last moment a request may go out under the claim: one sent then
        ends (answered or timed out) before the claim expires."""
        return self.claim_until - crm.timeout_seconds - CLAIM_SAFETY_S

    def call_size(self, crm: CRMSettings) -> tuple[int, int]:
        """(records per call, records per batch) for the next call: the size adapted to the
        org (`cursor.records_per_call`) under the admin's ceiling."""
        adapted = self.cursor.records_per_call if settings.CRMSYNC_ADAPTIVE_CALLS else None
        return decisions.call_size(adapted, crm.batch_size, settings.CRMSYNC_BATCHES_PER_CALL)

    def budget_after(self, call: Call, crm: CRMSettings) -> int:
        """Records the run may still send after `call`, if `call` goes through whole."""
        return crm.max_records_per_run - self.attempted - len(call.rows)


# Seconds kept between the last moment a request may go out under a claim and the claim's
# end, besides the request timeout (clocks of the hosts, the answer's last bytes).
CLAIM_SAFETY_S = 1.0


def export_link(
    account_id: int,
    run_id: int,
    after_id: int,
    until_id: int | None = None,
    only: list[int] | None = None,
    link_id: str = "",
    link_try: int = 0,
) -> LinkStep:
    """One link of a run's chain, as the `export_batch` task runs it.

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
    opened = _open_link(account_id, run_id, after_id, Token(link_id, link_try))
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
    not_claimed = _claim(link, account_id, after_id)
    if not_claimed is not None:
        return not_claimed
    step: LinkStep | None = None
    try:
        overlap.log_in_ahead(crm)  # a link in another worker process than the run's start
        call = _start_call(link, crm, after_id, until_id, only, None)
        step = call if not isinstance(call, Call) else _calls(link, call, deadline)
        return step
    finally:
        if not isinstance(step, Stopped):  # (a run's end or a lost race frees it already)
            _release(link)


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
       the call held the last records waiting when read → the run ends (a record
       enqueued since is after the cursor: the next run takes it).
    7. Time left and the run goes on → the next call (step 1); else return the step.
    Never leave a call in flight: one whose answer the link does not use is drained.
    """
    following: Call | None = None
    answered = False
    try:
        while True:
            answered = False
            more = time.monotonic() < deadline and not call.only and not call.last
            crm = _settings_now(call.crm) if more else call.crm
            ahead = _read_ahead(link, call, crm) if more else None
            answered = True  # (_answer takes the answer, or raises with it)
            answer = _answer(link, call)
            _adapt(link, call, answer)
            following = _follow(link, call, answer, crm, ahead) if more else None
            if not _apply(link, call, answer):
                return Stopped(LOST_RACE)
            step = _next_step(call, link.run_id, answer)
            if isinstance(step, Next) and call.last:
                return _end_run(link)  # no record waited after this call's: nothing to read
            if not isinstance(step, Next) or (following is None and time.monotonic() >= deadline):
                return step  # (a call already sent is waited for below, its move not committed)
            if following is None and not _keep_claim(link, crm):
                return Stopped(STALE)
            upcoming = following or _start_call(link, crm, step.after_id, None, None, ahead)
            following = None
            if not isinstance(upcoming, Call):
                return upcoming
            call = upcoming
    finally:
        if not answered:
            overlap.drain(link.run_id, call)
        if following is not None:
            overlap.drain(link.run_id, following)


def _read_ahead(link: Link, call: Call, crm: CRMSettings) -> overlap.Ahead | None:
    return overlap.read_ahead(call, link.call_size(crm), link.budget_after(call, crm))


def _follow(
    link: Link, call: Call, answer: Answer, crm: CRMSettings, ahead: overlap.Ahead | None
) -> Call | None:
    """The next call, sent before this one's cursor move commits, if that is safe (the
    call size as `_adapt` left it)."""
    sizes, budget = link.call_size(crm), link.budget_after(call, crm)
    return overlap.follow(call, answer, crm, ahead, sizes, budget, link.send_by(crm))


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
    account_id: int, run_id: int, after_id: int, me: Token
) -> tuple[Link, CRMSettings] | Stopped:
    """The link's state, its cursor at the position it goes on from, and the account's
    settings; Stopped for a stale link."""
    cursor, run, position = _link_state(account_id, run_id, after_id, me.link_id)
    if position is None or cursor is None or run is None:
        log.info("export.batch.stale account=%s run=%s after=%s", account_id, run_id, after_id)
        return Stopped(STALE)
    if position != after_id:
        # This link moved the cursor before it was redelivered or retried: go on from there.
        log.info("export.batch.resume account=%s run=%s after=%s", account_id, run_id, position)
    crm = _related(run.account, "crm_settings")
    if crm is None:
        raise ExportRequestError(f"account {account_id} has no CRM settings")
    return Link(run_id, me, cursor, run.attempted, _claim_s(crm)), crm


def _claim(link: Link, account_id: int, after_id: int) -> Stopped | Wait | None:
    """Take the claim to send (`claim.verdict`, then a compare-and-swap); None once taken,
    else why this link sends nothing."""
    held, now = _held(link.cursor), timezone.now()
    verdict = claim.verdict(held, link.token, now)
    if verdict is claim.Verdict.CLAIM and _take_claim(link, held):
        return None
    if verdict is claim.Verdict.CLAIM:  # another copy took it between the read and the swap
        verdict, held = claim.Verdict.STALE, _held(ExportCursor.objects.get(id=link.cursor.id))
    return _not_claimed(verdict, held, account_id, link.run_id, after_id, now)


def _held(cursor: ExportCursor) -> claim.Held:
    return claim.Held(cursor.link_id, cursor.link_try, cursor.claim_expires_at)


def _claim_s(crm: CRMSettings) -> float:
    """How long a claim holds: the longest request in flight, and the margin to renew it."""
    return crm.timeout_seconds + CLAIM_SAFETY_S + settings.CRMSYNC_CLAIM_MARGIN_S


def _take_claim(link: Link, held: claim.Held) -> bool:
    """Compare-and-swap: the cursor still at its position, run and claim as read → the claim
    is this link's until `claim_s` from now."""
    cursor, started = link.cursor, time.monotonic()
    expires_at = timezone.now() + timedelta(seconds=link.claim_s)
    taken = ExportCursor.objects.filter(
        id=cursor.id,
        run_id=link.run_id,
        last_exported_id=cursor.last_exported_id,
        link_id=held.link_id,
        link_try=held.link_try,
        claim_expires_at=held.expires_at,
    ).update(link_id=link.token.link_id, link_try=link.token.link_try, claim_expires_at=expires_at)
    if not taken:
        return False
    cursor.link_id, cursor.link_try = link.token.link_id, link.token.link_try
    cursor.claim_expires_at = expires_at
    link.claim_until = started + link.claim_s
    return True


def _keep_claim(link: Link, crm: CRMSettings) -> bool:
    """Before a call: renew the claim if less than half its margin is left for sending
    (cursor moves renew it; a long call or a slow database may leave it short). False: the
    claim is another link's now (this one's had expired)."""
    left = link.send_by(crm) - time.monotonic()
    if left > settings.CRMSYNC_CLAIM_MARGIN_S / 2:
        return True
    if _take_claim(link, _held(link.cursor)):
        return True
    log.warning(
        "export.batch.claim_lost account=%s run=%s after=%s: another link holds the claim "
        "to send; this one sends nothing more",
        crm.account_id,
        link.run_id,
        link.cursor.last_exported_id,
    )
    return False


def _release(link: Link) -> None:
    """The link sends nothing more (no call in flight): the claim is free for the next link,
    and a copy of this try finds it stale (`claim.released`). A release that fails leaves
    the claim to expire."""
    free = claim.released(link.token)
    try:
        ExportCursor.objects.filter(
            id=link.cursor.id, link_id=link.token.link_id, link_try=link.token.link_try
        ).update(link_try=free.link_try, claim_expires_at=None)
    except DatabaseError:
        log.warning("export.batch.unreleased run=%s: the claim to send expires", link.run_id)


def _not_claimed(
    verdict: claim.Verdict,
    held: claim.Held,
    account_id: int,
    run_id: int,
    after_id: int,
    now: Any,
) -> Stopped | Wait:
    """Another link holds the claim (stale: nothing sent, nothing moved), or this link's own
    copy may (look again when it expires)."""
    if verdict is claim.Verdict.WAIT and held.expires_at is not None:
        seconds = max((held.expires_at - now).total_seconds(), 0.0) + CLAIM_SAFETY_S
        log.info(
            "export.batch.wait account=%s run=%s after=%s holder=%s try=%s seconds=%.1f",
            account_id,
            run_id,
            after_id,
            held.link_id,
            held.link_try,
            seconds,
        )
        return Wait(seconds)
    log.warning(
        "export.batch.stale account=%s run=%s after=%s holder=%s try=%s: another link holds "
        "the claim to send (or a later try of this one); nothing sent, the cursor stays",
        account_id,
        run_id,
        after_id,
        held.link_id,
        held.link_try,
    )
    return Stopped(STALE)


def _link_state(
    account_id: Any, run_id: Any, after_id: int, link_id: str
) -> tuple[ExportCursor | None, ExportRun | None, int | None]:
    """The account's cursor, the run (with its account and settings: one query for all),
    and where the link goes on from (None: stale)."""
    run = (
        ExportRun.objects.select_related("account__export_cursor", "account__crm_settings")
        .filter(id=run_id, account_id=account_id)
        .first()
    )
    cursor = _related(run.account, "export_cursor") if run is not None else None
    return cursor, run, _current_position(cursor, run, after_id, link_id)


def _related(account: Account, name: str) -> Any:
    """The account's one-to-one `name` (cursor, settings), None when it has none."""
    try:
        return getattr(account, name)
    except ObjectDoesNotExist:
        return None


def _current_position(
    cursor: ExportCursor | None, run: ExportRun | None, after_id: int, link_id: str
) -> int | None:
    """Where a link goes on from (`claim.position`); None for a stale or duplicate link, or
    a finished run."""
    if cursor is None or run is None or run.outcome or cursor.run_id != run.id:
        return None
    return claim.position(cursor.last_exported_id, cursor.link_id, after_id, link_id)


# What decides a call, read again before each one (docs/semantics.md: settings changes take
# effect at the next batch); `updated_at` moves with every save, secrets included.
_PER_CALL = (
    "export_enabled",
    "pause_on_export_errors",
    "batch_size",
    "max_records_per_run",
    "daily_api_limit",
    "updated_at",
    "account__is_active",
)


def _settings_now(crm: CRMSettings) -> CRMSettings:
    """The account's settings for its next call: `crm` if none changed, else read afresh.
    The check is one light query (no model built, no secret decrypted)."""
    now = CRMSettings.objects.filter(account_id=crm.account_id).values_list(*_PER_CALL).first()
    known = (*(getattr(crm, name) for name in _PER_CALL[:-1]), crm.account.is_active)
    return crm if now == known else load_settings(crm.account_id)


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
        finish_run(link.run_id, Outcome.COMPLETED, "Stopped: Export to CRM was turned off.")
        return Stopped(Outcome.COMPLETED)
    budget = crm.max_records_per_run - link.attempted
    if budget <= 0 and not only:
        message = "Record budget of this run used; the rest follows."
        finish_run(link.run_id, Outcome.COMPLETED, message)
        return Stopped(Outcome.COMPLETED)
    sizes, send_by = link.call_size(crm), link.send_by(crm)
    if overlap.ready(ahead, after_id, sizes, budget):
        assert ahead is not None
        return overlap.send_call(
            crm, after_id, None, None, ahead.rows, ahead.batches, sizes[1], send_by, ahead.last
        )
    if overlap.none_left(ahead, after_id):
        return _end_run(link)
    rows, batches, last = payload.load_call(
        crm.account_id, after_id, until_id, only, sizes, max(budget, 1)
    )
    if not rows:
        return _end_run(link)
    return overlap.send_call(crm, after_id, until_id, only, rows, batches, sizes[1], send_by, last)


def _end_run(link: Link) -> Stopped:
    """No record left after the cursor: the run is over."""
    outcome = Outcome.COMPLETED if link.attempted else Outcome.NOTHING_TO_DO
    finish_run(link.run_id, outcome)
    return Stopped(outcome)


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


def _apply(link: Link, call: Call, answer: Answer) -> bool:
    """Commit the call's answer; then `link` holds the cursor and count it left."""
    renewed_from = time.monotonic()
    if not move_cursor(link.cursor, link.run_id, link.token, link.claim_s, call, answer):
        return False
    link.claim_until = renewed_from + link.claim_s
    link.attempted += len(answer.decision.written) + len(answer.decision.rejected)
    return True


def _next_step(call: Call, run_id: int, answer: Answer) -> LinkStep:
    """What follows a committed call: the run parks (paused), the call is retried later,
    the run stops near the daily API limit, or the next call goes on from the cursor."""
    crm, rows, decision = call.crm, call.rows, answer.decision
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
        finish_run(run_id, Outcome.PAUSED, f"Paused at record #{decision.pause_at}.")
        return Stopped(Outcome.PAUSED)
    if decision.retry:
        if crm.pause_on_export_errors:
            return RetryLater(position)
        return RetryLater(call.after_id, decision.retry, rows[-1].key.id)
    if answer.near_api_limit(crm):
        used, limit = answer.api_usage or (0, 0)
        finish_run(
            run_id,
            Outcome.COMPLETED,
            f"Stopped near the daily API limit ({used}/{limit} used); the rest follows later.",
            code=API_LIMIT,
        )
        return Stopped(Outcome.COMPLETED)
    return Next(position)


def note_retry(account_id: Any, run_id: Any, after_id: Any, note: str) -> None:
    """A link's call is retried: say so as it happens, on the run's row while it goes on
    (`crm_export --progress` shows it) and in the worker's log."""
    if not all(is_id(x) for x in (account_id, run_id, after_id)):
        return
    ExportRun.objects.filter(id=run_id, account_id=account_id, outcome="").update(message=note)
    slug = Account.objects.filter(id=account_id).values_list("slug", flat=True).first()
    log.info(
        "export.batch.retry account=%s run=%s after=%s note=%s",
        slug,
        run_id,
        after_id,
        json.dumps(note, ensure_ascii=False),
    )


def fail_link(
    account_id: Any,
    run_id: Any,
    after_id: Any,
    exc: BaseException,
    attempts: int,
    link_id: str = "",
) -> None:
    """A link failed for good (its retries ran out, or an unexpected error).

    1. Only the run's current link ends the run (the cursor is where it started, or it
       moved the cursor itself): a requeued or stale link must not end a run that is
       going on without it.
    2. The run fails with a reason a person reads (`outage.failure_message`): what
       happened, how often, over how long (known when the failing call was the run's
       first), what to check, and the record the next run resumes at.
    """
    if not all(is_id(x) for x in (account_id, run_id, after_id)):
        return
    cursor, run, position = _link_state(account_id, run_id, after_id, link_id)
    if cursor is None or run is None or position is None:
        return
    if not claim.may_end_run(_held(cursor), link_id, timezone.now()):
        return  # another link holds the claim: the run goes on with it
    resume_at = cursor.paused_record_id or (
        ExportRecord.objects.filter(account_id=account_id, id__gt=cursor.last_exported_id)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    seconds = (timezone.now() - run.started_at).total_seconds() if not run.attempted else None
    slug = run.account.slug
    message = outage.failure_message(exc, attempts, seconds, resume_at, slug)
    fail_run(run_id, message, getattr(exc, "code", "") or "EXPORT_FAILED")
