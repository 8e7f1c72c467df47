"""The export run (docs/semantics.md › The run): lease, batches, cursor moves, run rows.

Celery tasks in `exports.tasks` are thin wrappers around `start_run`,
`export_batch` and `fail_run`; every decision about what Salesforce's answer
means is in `exports.decisions`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Case, F, Func, Q, TextField, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account, CRMSettings

from . import alerts, circuit, decisions, field_types, outage
from .decisions import BatchDecision, RecordKey, Rejection
from .gateway import (
    MAX_COLLECTIONS_PER_COMPOSITE,
    Gateway,
    GatewayError,
    reusable_gateway,
)
from .models import ExportCursor, ExportError, ExportRecord, ExportRun
from .wire import NOT_SENT, Batch, RecordResult, encode_record

log = logging.getLogger(__name__)

Outcome = ExportRun.Outcome


class ExportRequestError(ValueError):
    """A task was given ids that do not fit (unknown account, run of another account)."""


class RunFailed(Exception):
    """A link ended its run `failed` (the run row and the cursor say why): its task ends in
    Celery's FAILURE state with this message, so Flower's failed tasks list it."""


@dataclass(frozen=True)
class Started:
    run_id: int
    outcome: str  # "" while the run goes on
    after_id: int | None  # the first link starts after this id; None: nothing to start


@dataclass(frozen=True)
class BatchStep:
    """What the task does after a call: go on, retry (maybe only some records), or stop."""

    next_after_id: int | None = None
    retry_after_id: int | None = None
    retry_only: tuple[int, ...] = ()
    retry_until_id: int | None = None


STOP = BatchStep()


def due_account_ids() -> list[int]:
    """Accounts the schedule exports: active, with Export to CRM on."""
    return list(
        circuit.closed(CRMSettings.objects.filter(export_enabled=True, account__is_active=True))
        .order_by("account_id")
        .values_list("account_id", flat=True)
    )


# --- starting a run ------------------------------------------------------------------------


def start_run(account_id: int, trigger: str, run_id: int | None = None) -> Started:
    """Begin an export run of one account.

    1. Load the account and its CRM settings (unknown ids are a clear error).
    2. Write the ExportRun row before anything else (or adopt the one `crm_export` wrote),
       in one transaction with steps 3 and 4.
    3. Export to CRM off or account inactive → the run ends `nothing_to_do`.
    4. Take the account's run lease with one compare-and-swap UPDATE; a live lease of
       another run → `skipped_locked`. A run whose lease expired is marked failed.
    5. No record after the cursor → `nothing_to_do`; otherwise the first link starts
       after the cursor (at the parked record, if paused), and the HTTP thread logs in
       meanwhile.
    """
    crm = load_settings(account_id)
    # One transaction from the run row to the lease: a worker killed in between leaves no
    # row that is neither finished nor holding the lease (nothing would ever end it).
    with transaction.atomic():
        run = _adopt_or_create_run(account_id, trigger, run_id)
        if not _export_on(crm):
            return _finish_started(
                run, Outcome.NOTHING_TO_DO, "Export to CRM is off for this account."
            )
        if not _take_lease(account_id, run):
            return _finish_started(run, Outcome.SKIPPED_LOCKED, "Another run holds the lease.")
    cursor = ExportCursor.objects.get(account_id=account_id)
    if not ExportRecord.objects.filter(
        account_id=account_id, id__gt=cursor.last_exported_id
    ).exists():
        finish_run(run.id, Outcome.NOTHING_TO_DO)
        return Started(run.id, Outcome.NOTHING_TO_DO, None)
    log.info(
        "export.run.start account=%s run=%s trigger=%s after=%s",
        crm.account.slug,
        run.id,
        run.trigger,
        cursor.last_exported_id,
    )
    _log_in_ahead(crm)
    return Started(run.id, "", cursor.last_exported_id)


def _log_in_ahead(crm: CRMSettings) -> None:
    """The next call needs a token: in a fresh worker, logging in (and the TLS handshake)
    would hold it up by about as long as a call takes. Log in now, in the HTTP thread,
    while this thread hands over to the first link and reads its records. Nothing to do
    when this worker is logged in already."""
    _http().submit(reusable_gateway(crm).log_in_ahead)


def _export_on(crm: CRMSettings) -> bool:
    """Export to CRM is on and the account active (what `due_account_ids` selects)."""
    return crm.export_enabled and crm.account.is_active


def load_settings(account_id: Any) -> CRMSettings:
    require_id("account_id", account_id)
    crm = CRMSettings.objects.select_related("account").filter(account_id=account_id).first()
    if crm is None:
        raise ExportRequestError(f"account {account_id} does not exist (or has no CRM settings)")
    return crm


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


def _adopt_or_create_run(account_id: int, trigger: str, run_id: int | None) -> ExportRun:
    if trigger not in ExportRun.Trigger.values:
        raise ExportRequestError(
            f"trigger must be one of {', '.join(ExportRun.Trigger.values)}, got {trigger!r}"
        )
    if run_id is None:
        return ExportRun.objects.create(account_id=account_id, trigger=trigger)
    if not _is_id(run_id):
        raise ExportRequestError(f"run_id must be an integer id or null, got {run_id!r}")
    run = ExportRun.objects.filter(id=run_id, account_id=account_id, outcome="").first()
    if run is None:
        raise ExportRequestError(f"run {run_id} is not an unfinished run of account {account_id}")
    return run


def _finish_started(run: ExportRun, outcome: str, message: str) -> Started:
    finish_run(run.id, outcome, message)
    return Started(run.id, outcome, None)


def start_lease(account_id: int, trigger: str) -> int | None:
    """A run row holding the account's lease (for work besides export runs, such as the
    re-export), or None after writing it `skipped_locked` when another run holds it."""
    with transaction.atomic():  # as in start_run: no run row without the lease asked for
        run = ExportRun.objects.create(account_id=account_id, trigger=trigger)
        if _take_lease(account_id, run):
            return run.id
        finish_run(run.id, Outcome.SKIPPED_LOCKED, "Another run holds the lease.")
    return None


def _take_lease(account_id: int, run: ExportRun) -> bool:
    """Compare-and-swap: the lease is free or expired → it is ours."""
    cursor, _ = ExportCursor.objects.get_or_create(account_id=account_id)
    now = timezone.now()
    expired = cursor.lease_expires_at is not None and cursor.lease_expires_at < now
    expired_run_id = cursor.run_id if expired and cursor.run_id != run.id else None
    # Free, expired, or already ours (a redelivered run_export of the same run).
    taken = ExportCursor.objects.filter(
        Q(run_id__isnull=True) | Q(lease_expires_at__lt=now) | Q(run_id=run.id), id=cursor.id
    ).update(
        run_id=run.id,
        lease_expires_at=now + timedelta(seconds=settings.CRMSYNC_RUN_LEASE_S),
        state=Case(
            When(paused_record__isnull=False, then=Value(ExportCursor.State.PAUSED)),
            default=Value(ExportCursor.State.RUNNING),
        ),
    )
    if taken and expired_run_id:
        ExportRun.objects.filter(id=expired_run_id, outcome="").update(
            outcome=Outcome.FAILED,
            finished_at=now,
            message="The run's lease expired (its worker was lost); a later run took over.",
        )
    if taken:
        # A run starts when it holds the lease: read after the UPDATE, this time is later
        # than the previous holder's finished_at, so run rows never seem to overlap.
        ExportRun.objects.filter(id=run.id).update(started_at=timezone.now())
    return bool(taken)


# --- one link: calls one after the other -----------------------------------------------------


def export_link(
    account_id: int,
    run_id: int,
    after_id: int,
    until_id: int | None = None,
    only: list[int] | None = None,
    link_id: str = "",
) -> BatchStep:
    """One link of a run's chain: calls one after the other until CRMSYNC_LINK_SECONDS
    have passed or the run stops; the next link goes on from where they left the cursor.
    Fewer links, fewer Celery hand-overs, and the worker's own work hides behind calls:

    1. While a call is in flight (sent by the HTTP thread), read the settings and the
       records of the next call.
    2. When its answer is in and it went through whole, and the next call writes none of
       its records, send the next call at once and commit this one's cursor move while
       the next is in flight (`decisions.may_send_before_commit`). Otherwise commit first,
       then go on as `export_batch` says.
    """
    deadline = time.monotonic() + settings.CRMSYNC_LINK_SECONDS
    return _export_calls(account_id, run_id, after_id, until_id, only, link_id, deadline)


def export_batch(
    account_id: int,
    run_id: int,
    after_id: int,
    until_id: int | None = None,
    only: list[int] | None = None,
    *,
    link_id: str = "",
) -> BatchStep:
    """Export the next call of a run: up to CRMSYNC_BATCHES_PER_CALL batches in one API call.

    1. Check the link is current: the run holds the lease and the cursor is still at
       `after_id` — or this link (`link_id`, its Celery task id) moved it further before
       it was redelivered or retried: then it goes on from the cursor. Otherwise it is a
       duplicate or stale link: do nothing.
    2. Export to CRM turned off, or the run's record budget used → the run ends.
    3. Load the next batches after the cursor (or only the records a retry names).
    4. Send them in one call — all-or-none when pause is on — and decide what the answer
       means; with pause on, the clean prefix before a rejected record is sent again on
       its own.
    5. In one transaction: move the cursor (compare-and-swap on run and position), open
       or bump ExportErrors, resolve the parked record's error once it went through, add
       to the run's counts.
    6. A rejection with pause on parks the cursor and ends the run `paused`; transient
       failures retry; above the API quota the run ends; otherwise the next link follows.
    """
    return _export_calls(account_id, run_id, after_id, until_id, only, link_id, deadline=0.0)


@dataclass
class _Link:
    """What a link knows between its calls: the cursor and the run's record count as its
    own compare-and-swap left them. Nobody else moves the cursor of a run holding the
    lease, so a link reads them once; each cursor move still checks them (`_apply`)."""

    run_id: int
    link_id: str
    cursor: ExportCursor
    attempted: int

    def call_size(self, crm: CRMSettings) -> tuple[int, int]:
        """(records per call, records per batch) for the next call: the size adapted to the
        org (`cursor.records_per_call`) under the admin's ceiling."""
        adapted = self.cursor.records_per_call if settings.CRMSYNC_ADAPTIVE_CALLS else None
        return decisions.call_size(adapted, crm.batch_size, settings.CRMSYNC_BATCHES_PER_CALL)


@dataclass(frozen=True)
class _Sent:
    """A call's answer: what it means, the API calls it took, the org's API usage after it."""

    decision: BatchDecision
    api_calls: int
    api_usage: tuple[int, int] | None
    cpu_limited: bool = False  # a call met the Apex CPU limit
    slowest_call_s: float = 0.0


@dataclass(frozen=True)
class _Call:
    crm: CRMSettings
    after_id: int
    until_id: int | None
    only: list[int] | None
    rows: list[_Row]
    gateway: Gateway
    answer: Future[_Sent]


@dataclass(frozen=True)
class _Ahead:
    """The call after `after_id`, prepared while the call before it was in flight: its rows
    and batches for batches of `size`, and whether it writes a record that call wrote."""

    after_id: int
    sizes: tuple[int, int]  # (records per call, records per batch) it was cut for
    rows: list[_Row]
    batches: list[Batch]
    shared: bool


def _export_calls(
    account_id: int,
    run_id: int,
    after_id: int,
    until_id: int | None,
    only: list[int] | None,
    link_id: str,
    deadline: float,
) -> BatchStep:
    _check_link_arguments(account_id, run_id, after_id, until_id, only)
    opened = _open_link(account_id, run_id, after_id, link_id)
    if opened is None:
        return STOP
    link, position = opened
    if position != after_id:  # a retry's record list belonged to the old position
        after_id, until_id, only = position, None, None
    retry = _retry_state(link.cursor)
    if (until_id, only) != (None, None) and (until_id, _sorted(only)) != retry:
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
        return STOP
    until_id, only = retry
    crm = load_settings(account_id)
    _log_in_ahead(crm)  # a link in another worker process than the run's start
    call = _start_call(link, crm, after_id, until_id, only, None)
    following: _Call | None = None
    answered = False
    try:
        while isinstance(call, _Call):
            answered = False
            more = time.monotonic() < deadline and not call.only
            crm = _settings_now(call.crm) if more else call.crm
            ahead = _read_ahead(call, link, crm) if more else None
            answered = True  # (_answer takes the answer, or raises with it)
            sent = _answer(link, call)
            _adapt(link, call, sent)
            following = _follow(link, call, sent, crm, ahead) if more else None
            if not _apply(link, call, sent):
                return STOP
            step = _next_step(call, link.run_id, sent)
            if step.next_after_id is None or (following is None and time.monotonic() >= deadline):
                return step  # (a call already sent is waited for below, its move not committed)
            call = following or _start_call(link, crm, step.next_after_id, None, None, ahead)
            following = None
        return call
    finally:
        # Never leave a call in flight: whatever follows sends its records again after it.
        if isinstance(call, _Call) and not answered:
            _drain(link, call)
        if following is not None:
            _drain(link, following)


def _retry_state(cursor: ExportCursor) -> tuple[int | None, list[int] | None]:
    """(until_id, only) of the retry the cursor waits for, kept on the server (`_apply`)."""
    return cursor.retry_until_id, _sorted(cursor.retry_only)


def _sorted(ids: list[int] | None) -> list[int] | None:
    return sorted(ids) if ids else None


def _open_link(
    account_id: int, run_id: int, after_id: int, link_id: str
) -> tuple[_Link, int] | None:
    """The link's state and the position it goes on from; None for a stale link."""
    cursor, run, position = _link_state(account_id, run_id, after_id, link_id)
    if position is None:
        log.info("export.batch.stale account=%s run=%s after=%s", account_id, run_id, after_id)
        return None
    if position != after_id:
        # This link moved the cursor before it was redelivered or retried: go on from there.
        log.info("export.batch.resume account=%s run=%s after=%s", account_id, run_id, position)
    assert cursor is not None and run is not None
    return _Link(run_id, link_id, cursor, run.attempted), position


def _start_call(
    link: _Link,
    crm: CRMSettings,
    after_id: int,
    until_id: int | None,
    only: list[int] | None,
    ahead: _Ahead | None,
) -> _Call | BatchStep:
    """Send the next call after `after_id`, or end the run (export off, budget used, done)."""
    if not _export_on(crm):
        finish_run(link.run_id, Outcome.COMPLETED, "Stopped: Export to CRM was turned off.")
        return STOP
    budget = crm.max_records_per_run - link.attempted
    if budget <= 0 and not only:
        message = "Record budget of this run used; the rest follows."
        finish_run(link.run_id, Outcome.COMPLETED, message)
        return STOP
    sizes = link.call_size(crm)
    if _ready(ahead, after_id, sizes, budget):
        return _send_call(crm, after_id, None, None, ahead.rows, ahead.batches, sizes[1])
    rows, batches = _load_call(crm.account_id, after_id, until_id, only, sizes, max(budget, 1))
    if not rows:
        finish_run(link.run_id, Outcome.COMPLETED if link.attempted else Outcome.NOTHING_TO_DO)
        return STOP
    return _send_call(crm, after_id, until_id, only, rows, batches, sizes[1])


def _ready(ahead: _Ahead | None, after_id: int, sizes: tuple[int, int], budget: int) -> bool:
    """Is `ahead` the next call after `after_id` as the settings and the adapted call size
    now cut it?"""
    return (
        ahead is not None
        and bool(ahead.rows)
        and ahead.after_id == after_id
        and ahead.sizes == sizes
        and len(ahead.rows) <= budget
    )


def _send_call(
    crm: CRMSettings,
    after_id: int,
    until_id: int | None,
    only: list[int] | None,
    rows: list[_Row],
    batches: list[Batch],
    size: int,
) -> _Call:
    gateway = reusable_gateway(crm)  # the HTTPS connection stays open between calls
    pause_on = crm.pause_on_export_errors
    answer = _http().submit(_send, gateway, rows, batches, pause_on, size)
    return _Call(crm, after_id, until_id, only, rows, gateway, answer)


def _answer(link: _Link, call: _Call) -> _Sent:
    """Wait for a call's answer. Transient faults raise (the task retries); a permanent
    one (auth, configuration) fails the run and raises RunFailed."""
    try:
        sent = call.answer.result()
    except GatewayError as exc:
        # Nothing else is in flight now: the gateway's count is this call's.
        if not exc.permanent:
            _add_api_calls(link.run_id, call.gateway.api_calls)
            raise
        code = exc.code or "CONNECTION_ERROR"
        fail_run(link.run_id, exc.message, code, api_calls=call.gateway.api_calls)
        raise RunFailed(exc.message) from None
    if call.only and sent.decision.cursor_to is not None:
        # The retried records were the call's last loose ends: the whole call is done.
        cursor_to = call.until_id or call.rows[-1].key.id
        sent = dataclasses.replace(
            sent, decision=dataclasses.replace(sent.decision, cursor_to=cursor_to)
        )
    return sent


def _follow(
    link: _Link, call: _Call, sent: _Sent, crm: CRMSettings, ahead: _Ahead | None
) -> _Call | None:
    """Send the next call before `call`'s cursor move is committed, if that is safe: it
    went through whole, the run goes on, and the next call writes none of its records."""
    end = call.rows[-1].key.id
    budget = _budget_after(call, link, crm)
    sizes = link.call_size(crm)
    if ahead is None or not _ready(ahead, end, sizes, budget):
        return None
    if not decisions.may_send_before_commit(sent.decision, end, ahead.shared):
        return None
    if not _export_on(crm) or _over_quota(crm, sent.api_usage):
        return None
    return _send_call(crm, end, None, None, ahead.rows, ahead.batches, sizes[1])


def _drain(link: _Link, call: _Call) -> None:
    """Wait for a call whose answer the link will not use (it stopped, or failed while the
    call was in flight). Its cursor move is not committed: whoever goes on from the cursor
    sends its records again, as after a lost answer, and only after this call is done."""
    try:
        api_calls = call.answer.result().api_calls
    except Exception:  # noqa: BLE001 - a clean-up: the link's own outcome stands
        log.debug("a call the link stopped without failed too", exc_info=True)
        api_calls = call.gateway.api_calls
    try:
        _add_api_calls(link.run_id, api_calls)
    except DatabaseError:
        log.warning("export.batch.uncounted run=%s api_calls=%s", link.run_id, api_calls)


def _budget_after(call: _Call, link: _Link, crm: CRMSettings) -> int:
    """Records the run may still send after `call`, if `call` goes through whole."""
    return crm.max_records_per_run - link.attempted - len(call.rows)


_http_pool: ThreadPoolExecutor | None = None


def _http() -> ThreadPoolExecutor:
    """The thread that sends a call while the worker's thread reads the next records.
    One per process; it only talks HTTP (no database connection of its own)."""
    global _http_pool
    if _http_pool is None:
        _http_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmsync-call")
    return _http_pool


def _read_ahead(call: _Call, link: _Link, crm: CRMSettings) -> _Ahead | None:
    """The call after `call`, prepared, if `call` goes through whole; None when there is no
    budget left or the read fails (the next call reads for itself)."""
    end = call.rows[-1].key.id
    budget = _budget_after(call, link, crm)
    sizes = link.call_size(crm)
    limit = min(sizes[0], budget)
    if limit <= 0:
        return None
    try:
        rows = _load_rows(crm.account_id, end, None, None, limit)
    except DatabaseError:
        log.debug("read-ahead after %s failed; the next call reads for itself", end, exc_info=True)
        return None
    rows, batches = _plan_call(rows, sizes[1])
    shared = decisions.share_records([r.key for r in call.rows], [r.key for r in rows])
    return _Ahead(end, sizes, rows, batches, shared)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def require_id(name: str, value: Any) -> None:
    """A task argument that must be a database id (JSON from Flower may be anything)."""
    if not _is_id(value):
        raise ExportRequestError(f"{name} must be an integer id, got {value!r}")


def _check_link_arguments(
    account_id: Any, run_id: Any, after_id: Any, until_id: Any, only: Any
) -> None:
    """A requeued link's JSON arguments (Flower) are checked before any query: a clear
    ExportRequestError naming the argument, instead of a database error."""
    for name, value in (("account_id", account_id), ("run_id", run_id), ("after_id", after_id)):
        require_id(name, value)
    if until_id is not None and not _is_id(until_id):
        raise ExportRequestError(f"until_id must be an integer id or null, got {until_id!r}")
    if only is not None and not (isinstance(only, list) and all(_is_id(i) for i in only)):
        raise ExportRequestError(f"only must be a list of record ids or null, got {only!r}")


def _link_state(
    account_id: Any, run_id: Any, after_id: int, link_id: str
) -> tuple[ExportCursor | None, ExportRun | None, int | None]:
    """The account's cursor, the run, and where the link goes on from (None: stale)."""
    cursor = ExportCursor.objects.filter(account_id=account_id).first()
    run = ExportRun.objects.filter(id=run_id, account_id=account_id).first()
    return cursor, run, _current_position(cursor, run, after_id, link_id)


def _current_position(
    cursor: ExportCursor | None, run: ExportRun | None, after_id: int, link_id: str
) -> int | None:
    """Where a link goes on from: `after_id` if the cursor is there, the cursor if this
    link (by task id) moved it there; None for a stale or duplicate link, or a finished run."""
    if cursor is None or run is None or run.outcome or cursor.run_id != run.id:
        return None
    if cursor.last_exported_id == after_id:
        return after_id
    if link_id and cursor.link_id == link_id:
        return cursor.last_exported_id
    return None


class _Row(NamedTuple):
    key: RecordKey
    payload: str  # the record as Salesforce takes it, JSON text (see _SalesforceJSON)


class _SalesforceJSON(Func):
    """An outbox record as the JSON text of a Collections upsert, built by the database:
    its fields, the external id field set to the external id, and `attributes.type` —
    `encode_record(sobject, {**fields, external_id_field: external_id})` without decoding
    and encoding every record's fields in Python. Other databases: None (encoded here)."""

    output_field = TextField()
    TEMPLATES = {
        # Spliced as text (the fields' own text after the attributes and the external id):
        # a third of the cost of building a jsonb and printing it, which is kept for fields
        # that hold the external id field or `attributes` themselves (those must win).
        "postgresql": "CASE WHEN {0} ? {1} OR {0} ? 'attributes' THEN"
        " ({0} || jsonb_build_object({1}, {2}, 'attributes', jsonb_build_object('type', {3})))::text"
        " ELSE '{{\"attributes\":{{\"type\":' || to_json({3})::text || '}},'"
        " || to_json({1})::text || ':' || to_json({2})::text"
        " || CASE WHEN {0} = '{{}}'::jsonb THEN '}}' ELSE ',' || substr({0}::text, 2) END END",
        # Field names are API names (letters, digits, _), safe in a JSON path.
        "sqlite": "json_set({0}, '$.' || {1}, {2}, '$.attributes', json_object('type', {3}))",
    }

    def __init__(self) -> None:
        super().__init__(F("fields"), F("external_id_field"), F("external_id"), F("sobject"))

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        template = self.TEMPLATES.get(connection.vendor, "NULL")
        parts, params = [], []
        for expression in self.source_expressions:
            sql, expression_params = compiler.compile(expression)
            parts.append(sql)
            params += expression_params
        if params:  # the templates use a column more than once: columns only
            raise ValueError("_SalesforceJSON takes columns, not parameters")
        return template.format(*parts), params


def _load_call(
    account_id: int,
    after_id: int,
    until_id: int | None,
    only: list[int] | None,
    sizes: tuple[int, int],
    budget: int,
) -> tuple[list[_Row], list[Batch]]:
    """The records of the next call and its batches: up to `sizes` (records per call,
    records per batch) after `after_id` (or the records a retry names), within the run's
    record budget."""
    per_call, size = sizes
    limit = len(only) if only else min(per_call, budget)
    rows = _load_rows(account_id, after_id, until_id, only, limit)
    if only:  # a subset of one earlier call: it fits one call
        return rows, _batches(rows, size)
    return _plan_call(rows, size)


def _plan_call(rows: list[_Row], size: int) -> tuple[list[_Row], list[Batch]]:
    """The rows that make up one call (whole batches, no repeated record key), batched."""
    keys = decisions.split_batches([r.key for r in rows], size, settings.CRMSYNC_BATCHES_PER_CALL)
    rows = rows[: sum(len(b) for b in keys)]
    return rows, _as_batches(rows, keys)


def _load_rows(
    account_id: int, after_id: int, until_id: int | None, only: list[int] | None, limit: int
) -> list[_Row]:
    qs = ExportRecord.objects.filter(account_id=account_id, id__gt=after_id).order_by("id")
    if until_id is not None:
        qs = qs.filter(id__lte=until_id)
    if only:
        qs = qs.filter(id__in=only)
    columns = ("id", "sobject", "external_id_field", "external_id", "payload")
    query = qs.annotate(payload=_SalesforceJSON()).values_list(*columns)[:limit].query
    # Plain columns, no converters: read as tuples, without the queryset's per-row work.
    sql, params = query.get_compiler(using=qs.db).as_sql()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    return [
        _Row(RecordKey(rid, sobject, field, ext), payload or _encode(rid))
        for rid, sobject, field, ext, payload in found
    ]


def _encode(record_id: int) -> str:
    """The payload of one record, encoded here (databases without _SalesforceJSON)."""
    record = ExportRecord.objects.get(id=record_id)
    fields = {**record.fields, record.external_id_field: record.external_id}
    return encode_record(record.sobject, fields)


def _batches(rows: list[_Row], size: int) -> list[Batch]:
    """`rows` as the batches of one call. Rows here are a call's records or a subset of an
    earlier call's (a resent prefix, retried records): never more batches than it had."""
    keys = decisions.split_batches([r.key for r in rows], size, MAX_COLLECTIONS_PER_COMPOSITE)
    if sum(len(b) for b in keys) != len(rows):
        raise ValueError(f"{len(rows)} records do not fit one call of batches of {size}")
    return _as_batches(rows, keys)


def _as_batches(rows: list[_Row], keys: list[list[RecordKey]]) -> list[Batch]:
    payloads = iter([row.payload for row in rows])
    return [Batch(b[0].sobject, b[0].external_id_field, [next(payloads) for _ in b]) for b in keys]


def _send(
    gateway: Gateway, rows: list[_Row], batches: list[Batch], pause_on: bool, size: int
) -> _Sent:
    """Send a call's batches. Runs in the HTTP thread; the gateway's counters start at zero.

    1. Records with a value their field's type cannot take (per describe) are rejected
       without being sent (`_wrong_types`).
    2. Send the rest as one call (narrowed down to the guilty record by the gateway when a
       failure is not about one record); with pause on, resend the rolled-back clean prefix
       until it settles.
    """
    by_id = {row.key.id: row for row in rows}
    refused = _wrong_types(gateway, rows)
    pending = rows
    passes: list[BatchDecision] = []
    while True:
        ids = [row.key.id for row in pending]
        if passes or refused:  # some of the rows, batched again
            batches = []
        results = _upsert_typed(gateway, pending, batches, refused, pause_on, size)
        passes.append(decisions.decide(ids, results, pause_on))
        if passes[-1].retry or not passes[-1].resend:
            decision = decisions.settle([row.key.id for row in rows], passes, pause_on)
            return _Sent(
                decision,
                gateway.api_calls,
                gateway.api_usage,
                gateway.cpu_limited,
                gateway.slowest_call_s,
            )
        pending = [by_id[i] for i in passes[-1].resend]


def _wrong_types(gateway: Gateway, rows: list[_Row]) -> dict[int, RecordResult]:
    """The records holding a value their field's type cannot take, each with the error the
    org's JSON parser would give the whole request (field types from the object's describe)."""
    checked: dict[str, dict[str, str]] = {}
    refused = {}
    for row in rows:
        sobject = row.key.sobject
        if sobject not in checked:
            checked[sobject] = field_types.checked_fields(gateway.field_types(sobject))
        if not checked[sobject]:
            continue
        wrong = field_types.type_error(row.payload, checked[sobject])
        if wrong is not None:
            field, message = wrong
            refused[row.key.id] = RecordResult(False, None, None, _PARSER, message, (field,))
    return refused


_PARSER = "JSON_PARSER_ERROR"


def _upsert_typed(
    gateway: Gateway,
    rows: list[_Row],
    batches: list[Batch],
    refused: dict[int, RecordResult],
    pause_on: bool,
    size: int,
) -> list[RecordResult]:
    """Upsert `rows` in one call (as `batches`, or batched here) except the `refused` ones,
    which keep their error; with pause on nothing after the first refused record is sent."""
    cut = next((k for k, row in enumerate(rows) if row.key.id in refused), None)
    if cut is None:
        return gateway.upsert_batches(batches or _batches(rows, size), all_or_none=pause_on)
    if pause_on:
        head = gateway.upsert_batches(_batches(rows[:cut], size), all_or_none=True)
        return [*head, refused[rows[cut].key.id], *[NOT_SENT] * (len(rows) - cut - 1)]
    sent = [row for row in rows if row.key.id not in refused]
    answers = iter(gateway.upsert_batches(_batches(sent, size), all_or_none=False))
    return [refused.get(row.key.id) or next(answers) for row in rows]


def _apply(link: _Link, call: _Call, answer: _Sent) -> bool:
    """Persist a call's outcome in one transaction; False if another link got there first.
    Then `link` holds the cursor as this transaction left it."""
    now = timezone.now()
    cursor, sent, batch = link.cursor, answer.decision, call.rows
    position = sent.cursor_to if sent.cursor_to is not None else call.after_id
    retry = bool(sent.retry) and not call.crm.pause_on_export_errors
    moved_to = {
        "last_exported_id": position,
        "link_id": link.link_id,
        "lease_expires_at": now + timedelta(seconds=settings.CRMSYNC_RUN_LEASE_S),
        "records_per_call": cursor.records_per_call,  # as `_adapt` left it
        # Pause off: what a retry of this call may send (checked against its task message).
        "retry_only": list(sent.retry) if retry else None,
        "retry_until_id": (call.until_id or batch[-1].key.id) if retry else None,
        **_pause_fields(cursor, sent, position, now),
    }
    with transaction.atomic():
        moved = ExportCursor.objects.filter(
            id=cursor.id, run_id=link.run_id, last_exported_id=call.after_id
        ).update(**moved_to)
        if not moved:
            log.warning("export.batch.lost_race run=%s after=%s", link.run_id, call.after_id)
            return False
        _record_rejections(cursor.account_id, batch, sent.rejected, now)
        if cursor.paused_record_id in sent.written:
            ExportError.objects.filter(
                record_id=cursor.paused_record_id, status=ExportError.Status.OPEN
            ).update(status=ExportError.Status.RESOLVED, resolved_at=now, last_attempt_at=now)
        ExportRun.objects.filter(id=link.run_id).update(
            attempted=F("attempted") + len(sent.written) + len(sent.rejected),
            exported=F("exported") + len(sent.written),
            failed=F("failed") + len(sent.rejected),
            api_calls=F("api_calls") + answer.api_calls,
            first_record_id=Coalesce("first_record_id", Value(batch[0].key.id)),
            last_record_id=Value(
                max([position, *sent.written, *(r.record_id for r in sent.rejected)])
            ),
        )
    for field, value in moved_to.items():
        setattr(cursor, field, value)
    link.attempted += len(sent.written) + len(sent.rejected)
    return True


def _adapt(link: _Link, call: _Call, answer: _Sent) -> None:
    """Adapt the account's records per call to what this call showed (Apex CPU limit, server
    time); `_apply` saves it with the cursor move."""
    if not settings.CRMSYNC_ADAPTIVE_CALLS or call.only:
        return
    current, per_batch = link.call_size(call.crm)
    carried = len(call.rows)
    link.cursor.records_per_call = decisions.next_records_per_call(
        current,
        carried,
        carried if call.crm.pause_on_export_errors else min(carried, per_batch),
        _ceiling(call.crm),
        answer.cpu_limited,
        answer.slowest_call_s,
        settings.CRMSYNC_CALL_TARGET_S,
    )


def _ceiling(crm: CRMSettings) -> int:
    """The most records a call carries: the admin's batch size × batches per call."""
    return crm.batch_size * settings.CRMSYNC_BATCHES_PER_CALL


def _pause_fields(
    cursor: ExportCursor, sent: BatchDecision, position: int, now: Any
) -> dict[str, Any]:
    if sent.pause_at is not None:
        rejection = sent.rejected[0]
        still_same = cursor.paused_record_id == sent.pause_at
        return {
            "state": ExportCursor.State.PAUSED,
            "paused_record_id": sent.pause_at,
            "paused_since": cursor.paused_since if still_same and cursor.paused_since else now,
            "last_error_code": rejection.error_code,
            "last_error_message": rejection.message,
        }
    if cursor.paused_record_id is not None and position >= cursor.paused_record_id:
        return {
            "state": ExportCursor.State.RUNNING,
            "paused_record_id": None,
            "paused_since": None,
            "last_error_code": "",
            "last_error_message": "",
        }
    return {}


def _record_rejections(
    account_id: int, batch: list[_Row], rejected: tuple[Rejection, ...], now: Any
) -> None:
    """Open an ExportError per rejected record, or bump the open one it already has."""
    if not rejected:
        return
    keys = {row.key.id: row.key for row in batch}
    open_errors = {
        e.record_id: e
        for e in ExportError.objects.filter(
            record_id__in=[r.record_id for r in rejected], status=ExportError.Status.OPEN
        )
    }
    new = []
    for rejection in rejected:
        error = open_errors.get(rejection.record_id)
        if error is None:
            key = keys[rejection.record_id]
            new.append(
                ExportError(
                    account_id=account_id,
                    record_id=key.id,
                    sobject=key.sobject,
                    external_id=key.external_id,
                    error_code=rejection.error_code,
                    message=rejection.message,
                    fields=list(rejection.fields),
                    last_attempt_at=now,
                )
            )
            continue
        ExportError.objects.filter(id=error.id).rejected_again(
            rejection.error_code, rejection.message, rejection.fields, now
        )
    ExportError.objects.bulk_create(new)


def _next_step(call: _Call, run_id: int, answer: _Sent) -> BatchStep:
    crm, batch, sent = call.crm, call.rows, answer.decision
    position = sent.cursor_to if sent.cursor_to is not None else call.after_id
    log.info(
        "export.batch account=%s run=%s after=%s sent=%s written=%s rejected=%s retry=%s "
        "api_calls=%s cursor=%s",
        crm.account.slug,
        run_id,
        call.after_id,
        len(batch),
        len(sent.written),
        len(sent.rejected),
        len(sent.retry),
        answer.api_calls,
        position,
    )
    if sent.pause_at is not None:
        finish_run(run_id, Outcome.PAUSED, f"Paused at record #{sent.pause_at}.")
        return STOP
    if sent.retry:
        if crm.pause_on_export_errors:
            return BatchStep(retry_after_id=position)
        return BatchStep(
            retry_after_id=call.after_id, retry_only=sent.retry, retry_until_id=batch[-1].key.id
        )
    if _over_quota(crm, answer.api_usage):
        used, limit = answer.api_usage or (0, 0)
        finish_run(
            run_id,
            Outcome.COMPLETED,
            f"Stopped near the daily API limit ({used}/{limit} used); the rest follows later.",
            code=alerts.API_LIMIT,
        )
        return STOP
    return BatchStep(next_after_id=position)


def _over_quota(crm: CRMSettings, api_usage: tuple[int, int] | None) -> bool:
    return bool(api_usage) and decisions.over_api_quota(
        api_usage[0], api_usage[1], crm.daily_api_limit, settings.CRMSYNC_API_QUOTA_SHARE
    )


def _add_api_calls(run_id: int, api_calls: int) -> None:
    if api_calls:
        ExportRun.objects.filter(id=run_id).update(api_calls=F("api_calls") + api_calls)


# --- ending a run ----------------------------------------------------------------------------


def finish_run(run_id: int, outcome: str, message: str = "", code: str = "") -> None:
    """Write the run's outcome and release the lease it holds (if any); then alerts
    (`code`: why it failed or stopped)."""
    now = timezone.now()
    with transaction.atomic():
        run = ExportRun.objects.select_related("account").get(id=run_id)
        ExportRun.objects.filter(id=run_id, outcome="").update(
            outcome=outcome, finished_at=now, message=message
        )
        ExportCursor.objects.filter(account_id=run.account_id, run_id=run_id).update(
            run_id=None,
            lease_expires_at=None,
            state=Case(
                When(paused_record__isnull=False, then=Value(ExportCursor.State.PAUSED)),
                default=Value(ExportCursor.State.IDLE),
            ),
        )
    run.refresh_from_db()
    failed = run.outcome == Outcome.FAILED
    log.log(
        logging.WARNING if failed else logging.INFO,
        "export.run account=%s run=%s trigger=%s outcome=%s attempted=%s exported=%s failed=%s "
        "api_calls=%s first=%s last=%s%s",
        run.account.slug,
        run.id,
        run.trigger,
        run.outcome,
        run.attempted,
        run.exported,
        run.failed,
        run.api_calls,
        run.first_record_id,
        run.last_record_id,
        f" reason={json.dumps(run.message, ensure_ascii=False)}" if failed else "",
    )
    alerts.after_run(run, code)


def note_retry(account_id: Any, run_id: Any, after_id: Any, note: str) -> None:
    """A link's call is retried: say so as it happens, on the run's row while it goes on
    (`crm_export --progress` shows it) and in the worker's log."""
    if not all(_is_id(x) for x in (account_id, run_id, after_id)):
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
    if not all(_is_id(x) for x in (account_id, run_id, after_id)):
        return
    cursor, run, position = _link_state(account_id, run_id, after_id, link_id)
    if cursor is None or run is None or position is None:
        return
    resume_at = cursor.paused_record_id or (
        ExportRecord.objects.filter(account_id=account_id, id__gt=cursor.last_exported_id)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    seconds = (timezone.now() - run.started_at).total_seconds() if not run.attempted else None
    slug = Account.objects.filter(id=account_id).values_list("slug", flat=True).first() or ""
    message = outage.failure_message(exc, attempts, seconds, resume_at, slug)
    fail_run(run_id, message, getattr(exc, "code", "") or "EXPORT_FAILED")


def fail_run(run_id: int, message: str, code: str = "", api_calls: int = 0) -> None:
    """End a run `failed` (auth, configuration, retries exhausted); the cursor stays put."""
    _add_api_calls(run_id, api_calls)
    run = ExportRun.objects.filter(id=run_id).first()
    if run is None:
        return
    # A paused cursor keeps the parked record's error; the run row carries this one.
    ExportCursor.objects.filter(
        account_id=run.account_id, run_id=run_id, paused_record__isnull=True
    ).update(last_error_code=code or "EXPORT_FAILED", last_error_message=message)
    finish_run(run_id, Outcome.FAILED, message, code)
