"""A run's life (docs/semantics.md › The run): which accounts are due, the run row and the
account's run lease, and the run's end (`finish_run`, `fail_run`).

The run's records go out in links (`exports.run.link`); the re-export takes its lease and run
row here too (`start_lease`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account, CRMSettings
from exports import fixed_sql
from exports.alerts import circuit
from exports.alerts import evaluate as alerts
from exports.models import ExportCursor, ExportRecord, ExportRun
from exports.run import overlap
from exports.run.task_arguments import ExportRequestError, is_id, require_id

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class _Waiting(TypedDict):
        waiting: bool  # a record waits after the cursor

    CursorAndBacklog = WithAnnotations[ExportCursor, _Waiting]

log = logging.getLogger("exports.pipeline")  # the export's log stream (docs/operations.md › Logs)

Outcome = ExportRun.Outcome


@dataclass(frozen=True)
class Running:
    """The run goes on: its first link starts after record `after_id`; `cursor` (as the
    lease left it) and `crm` are what that link starts from (no second read)."""

    run_id: int
    after_id: int
    cursor: ExportCursor | None = field(default=None, compare=False, repr=False)
    crm: CRMSettings | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Ended:
    """The run ended as it started (`nothing_to_do`, `skipped_locked`)."""

    run_id: int
    outcome: str


@dataclass(frozen=True)
class AlreadyRunning:
    """A `run_export` for a run that holds its lease and goes on (a duplicate message, a
    requeue from Flower): nothing started, no second chain."""

    run_id: int


@dataclass(frozen=True)
class GoOn:
    """A copy of the `run_export` that makes run `run_id`'s first link (the same task id:
    its message redelivered after its worker died): it goes on as that link, from the
    cursor at `after_id`; its claim to send decides whether it may send yet."""

    run_id: int
    after_id: int


RunStart = Running | Ended | AlreadyRunning | GoOn


def due_account_ids() -> list[int]:
    """Accounts the schedule exports, in one query whatever their number: exporting (active,
    Export to CRM on), circuit closed, with a record after their cursor (a paused account
    has: the parked record), and no run holding a live lease (that run takes the new
    records itself; a run sent for it would only end `skipped_locked`)."""
    cursor = ExportCursor.objects.filter(account_id=OuterRef("account_id"))
    done_up_to = Coalesce(Subquery(cursor.values("last_exported_id")[:1]), Value(0))
    waiting = ExportRecord.objects.filter(
        account_id=OuterRef("account_id"), id__gt=OuterRef("done_up_to")
    )
    leased = cursor.filter(run_id__isnull=False, lease_expires_at__gt=timezone.now())
    return list(
        circuit.closed(CRMSettings.objects.exporting())
        .annotate(done_up_to=done_up_to)
        .filter(Exists(waiting))
        .exclude(Exists(leased))
        .order_by("account_id")
        .values_list("account_id", flat=True)
    )


def load_settings(account_id: Any) -> CRMSettings:
    """An account's CRM settings (a clear error for an id that is none)."""
    require_id("account_id", account_id)
    row = fixed_sql.fetch_one(
        f"SELECT {fixed_sql.columns(CRMSettings, 's')}, {fixed_sql.columns(Account, 'a')} "
        f"FROM {fixed_sql.table(CRMSettings)} s JOIN {fixed_sql.table(Account)} a "
        "ON a.id = s.account_id WHERE s.account_id = %s",
        [account_id],
    )
    if row is None:
        raise ExportRequestError(f"account {account_id} does not exist (or has no CRM settings)")
    crm, rest = fixed_sql.built(CRMSettings, row)
    crm.account, _ = fixed_sql.built(Account, rest)
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
)


def settings_now(crm: CRMSettings) -> CRMSettings:
    """The account's settings for its next call: `crm` if none changed, else read afresh.
    The check is one light statement (no model built, no secret decrypted)."""
    row = fixed_sql.fetch_one(
        f"SELECT {fixed_sql.field_columns(CRMSettings, _PER_CALL, 's')}, "
        f"{fixed_sql.field_columns(Account, ('is_active',), 'a')} "
        f"FROM {fixed_sql.table(CRMSettings)} s JOIN {fixed_sql.table(Account)} a "
        "ON a.id = s.account_id WHERE s.account_id = %s",
        [crm.account_id],
    )
    if row is None:
        return load_settings(crm.account_id)  # gone: its clear error
    now = (*fixed_sql.field_values(CRMSettings, _PER_CALL, row[:-1]), bool(row[-1]))
    known = (*(getattr(crm, name) for name in _PER_CALL), crm.account.is_active)
    return crm if now == known else load_settings(crm.account_id)


def start_run(
    account_id: int, trigger: str, run_id: int | None = None, link_id: str = ""
) -> RunStart:
    """Begin an export run of one account.

    1. Load the account and its CRM settings (unknown ids are a clear error).
    2. Write the ExportRun row before anything else (or adopt the one `crm_export` wrote;
       a `run_id` of a run that is over → `Ended` with its outcome, nothing happens),
       in one transaction with steps 3 and 4.
    3. Export to CRM off or account inactive → the run ends `nothing_to_do`.
    4. Take the account's run lease with one compare-and-swap UPDATE; a live lease of
       another run → `skipped_locked`; a live lease of this very run (`run_id` given: a
       duplicate of its `run_export`) → `AlreadyRunning`, no second chain; a live lease of a
       run whose first link this very task makes (`link_id`, its Celery task id, holds the
       cursor's claim: a redelivered copy) → `GoOn` as that link, no run row of its own. A
       run whose lease expired is marked failed.
    5. No record after the cursor (read with the lease) → `nothing_to_do`; otherwise the
       run is `Running`: its first link starts after the cursor (at the parked record, if
       paused), and the HTTP thread logs in meanwhile.
    """
    crm = load_settings(account_id)
    # One transaction from the run row to the lease: a worker killed in between leaves no
    # row that is neither finished nor holding the lease (nothing would ever end it).
    with transaction.atomic():
        run = _adopt_or_create_run(account_id, trigger, run_id)
        if isinstance(run, Ended):  # a run that is over: its outcome stands
            return run
        if not crm.exporting:
            return _ended(run, Outcome.NOTHING_TO_DO, "Export to CRM is off for this account.")
        lease = _take_lease(account_id, run, link_id)
        if lease is None:
            return _ended(run, Outcome.SKIPPED_LOCKED, "Another run holds the lease.")
        if lease.mine is not None:
            if lease.mine != run.id:
                transaction.set_rollback(True)  # the run row written above is not needed
            log.info("export.run.go_on account=%s run=%s", crm.account.slug, lease.mine)
            return GoOn(lease.mine, lease.after_id)
        if lease.live:
            log.warning(
                "export.run.duplicate account=%s run=%s: this run holds the lease and goes "
                "on; nothing started",
                crm.account.slug,
                run.id,
            )
            return AlreadyRunning(run.id)
    if not lease.waiting:
        return _ended(run, Outcome.NOTHING_TO_DO)
    log.info(
        "export.run.start account=%s run=%s trigger=%s after=%s",
        crm.account.slug,
        run.id,
        run.trigger,
        lease.after_id,
    )
    overlap.log_in_ahead(crm)
    return Running(run.id, lease.after_id, lease.cursor, crm)


def _adopt_or_create_run(account_id: int, trigger: str, run_id: int | None) -> ExportRun | Ended:
    """A new run row, or the unfinished one `run_id` names; `Ended` when that run is over
    (a late duplicate, a requeue from Flower): nothing to do, its outcome stands."""
    if trigger not in ExportRun.Trigger.values:
        raise ExportRequestError(
            f"trigger must be one of {', '.join(ExportRun.Trigger.values)}, got {trigger!r}"
        )
    if run_id is None:
        return fixed_sql.insert(ExportRun(account_id=account_id, trigger=trigger))
    if not is_id(run_id):
        raise ExportRequestError(f"run_id must be an integer id or null, got {run_id!r}")
    run = ExportRun.objects.filter(id=run_id, account_id=account_id).first()
    if run is None:
        raise ExportRequestError(f"run {run_id} is not an unfinished run of account {account_id}")
    if not run.outcome:
        return run
    log.info(
        "export.run.over account=%s run=%s outcome=%s: nothing started",
        account_id,
        run.id,
        run.outcome,
    )
    return Ended(run.id, run.outcome)


def _ended(run: ExportRun, outcome: str, message: str = "") -> Ended:
    finish_run(run.id, outcome, message, account_id=run.account_id)
    return Ended(run.id, outcome)


def start_lease(account_id: int, trigger: str) -> int | None:
    """A run row holding the account's lease (for work besides export runs, such as the
    re-export), or None after writing it `skipped_locked` when another run holds it."""
    with transaction.atomic():  # as in start_run: no run row without the lease asked for
        run = ExportRun.objects.create(account_id=account_id, trigger=trigger)
        if _take_lease(account_id, run, "") is not None:
            return run.id
        finish_run(
            run.id, Outcome.SKIPPED_LOCKED, "Another run holds the lease.", account_id=account_id
        )
    return None


@dataclass(frozen=True)
class Lease:
    """A lease taken: the cursor it was taken at, and whether a record waited after it."""

    after_id: int
    waiting: bool
    live: bool = False  # the run already held it, live: a duplicate start
    mine: int | None = None  # the live run whose first link this task makes (`GoOn`)
    cursor: ExportCursor | None = None  # as the lease's UPDATE left it, once taken


# A cursor that changes between its read and the lease's UPDATE is read again, this often.
LEASE_TRIES = 3
# The cursor's state as an UPDATE leaves it: paused while a record is parked, else the other.
PAUSED_ELSE = '"state" = CASE WHEN "paused_record_id" IS NOT NULL THEN %s ELSE %s END'
# The cursor's fields a run's end writes: no lease, and no claim (its links are all stale).
RELEASED = {"run_id": None, "lease_expires_at": None, "claim_expires_at": None}


def _take_lease(account_id: int, run: ExportRun, link_id: str) -> Lease | None:
    """Compare-and-swap: the lease is free or expired → it is ours; this run's own live
    lease → `live` (a duplicate start takes nothing); a live lease whose claim to send is
    this task's (`link_id`) → `mine`: the run this task's first link belongs to.

    1. Read the cursor and whether a record waits after it, in one query (the account's
       first run creates the cursor).
    2. Another run holds a live lease → None.
    3. One UPDATE takes the lease if the cursor is still as read: its position, holder and
       expiry (a link of an expired run may still move it). It is not → read again.
    4. An expired holder's run is marked failed; this run starts now.
    """
    for _ in range(LEASE_TRIES):
        cursor = _cursor_and_backlog(account_id)
        if cursor is None:  # the account's first run (a run of another worker may race)
            ExportCursor.objects.bulk_create(
                [ExportCursor(account_id=account_id)], ignore_conflicts=True
            )
            continue
        now = timezone.now()
        lease_until = now + timedelta(seconds=settings.CRMSYNC_RUN_LEASE_S)
        expired = cursor.lease_expires_at is not None and cursor.lease_expires_at < now
        if cursor.run_id is not None and not expired:
            if link_id and cursor.link_id == link_id:
                return Lease(cursor.last_exported_id, True, live=True, mine=cursor.run_id)
            return (
                Lease(cursor.last_exported_id, False, live=True)
                if cursor.run_id == run.id
                else None
            )
        taken = fixed_sql.update(
            ExportCursor,
            {"run_id": run.id, "lease_expires_at": lease_until},
            {
                "id": cursor.id,
                "run_id": cursor.run_id,
                "lease_expires_at": cursor.lease_expires_at,
                "last_exported_id": cursor.last_exported_id,
            },
            also=PAUSED_ELSE,
            also_params=[ExportCursor.State.PAUSED, ExportCursor.State.RUNNING],
        )
        if taken:
            _started(run, cursor.run_id if expired and cursor.run_id != run.id else None, now)
            cursor.run_id, cursor.lease_expires_at = run.id, lease_until
            cursor.state = (
                ExportCursor.State.PAUSED if cursor.paused_record_id else ExportCursor.State.RUNNING
            )
            return Lease(cursor.last_exported_id, cursor.waiting, cursor=cursor)
    return None  # the cursor kept changing: another run is at work on it


def _cursor_and_backlog(account_id: int) -> CursorAndBacklog | None:
    """The account's cursor, its `waiting`: is there a record after it?"""
    row = fixed_sql.fetch_one(
        f"SELECT {fixed_sql.columns(ExportCursor, 'c')}, EXISTS(SELECT 1 FROM "
        f"{fixed_sql.table(ExportRecord)} r WHERE r.account_id = c.account_id "
        f"AND r.id > c.last_exported_id) FROM {fixed_sql.table(ExportCursor)} c "
        "WHERE c.account_id = %s",
        [account_id],
    )
    if row is None:
        return None
    cursor, (waiting,) = fixed_sql.built(ExportCursor, row)
    cursor.waiting = bool(waiting)  # type: ignore[attr-defined]
    return cast("CursorAndBacklog", cursor)


def _started(run: ExportRun, expired_run_id: int | None, now: datetime) -> None:
    """The lease is `run`'s: an expired holder's run failed; `run` starts now."""
    if expired_run_id:
        ExportRun.objects.filter(id=expired_run_id, outcome="").update(
            outcome=Outcome.FAILED,
            finished_at=now,
            message="The run's lease expired (its worker was lost); a later run took over.",
        )
    # A run starts when it holds the lease: read after the UPDATE, this time is later
    # than the previous holder's finished_at, so run rows never seem to overlap.
    fixed_sql.update(ExportRun, {"started_at": timezone.now()}, {"id": run.id})


def finish_run(
    run_id: int, outcome: str, message: str = "", code: str = "", account_id: int | None = None
) -> None:
    """End a run (`code`: why it failed or stopped; `account_id`: the run's, when known).

    1. Write the outcome on the run's row (unless it has one) and release the lease it
       holds (if any) and its link's claim to send, in one transaction, without reading
       either first.
    2. Read the run once as it ended: its account for the log line, and whether the
       account's alerts stand quiet (`alerts.told_nothing`), for the alerts.
    """
    now = timezone.now()
    with transaction.atomic():
        fixed_sql.update(
            ExportRun,
            {"outcome": outcome, "finished_at": now, "message": message},
            {"id": run_id, "outcome": ""},
        )
        if account_id is None:  # (the cursor's unique index: found by the run's account)
            account_id = (
                ExportRun.objects.filter(id=run_id).values_list("account_id", flat=True).first()
            )
        if account_id is not None:
            fixed_sql.update(
                ExportCursor,
                RELEASED,
                {"run_id": run_id, "account_id": account_id},
                also=PAUSED_ELSE,
                also_params=[ExportCursor.State.PAUSED, ExportCursor.State.IDLE],
            )
    tell_end(run_id, code)


def tell_end(run_id: int, code: str = "") -> None:
    """A run's end committed: read the run once as it ended (its account for the log line,
    and whether the account's alerts stand quiet), log it and let the alerts look."""
    told_nothing, params = alerts.told_nothing("r.account_id")
    row = fixed_sql.fetch_one(
        f"SELECT {fixed_sql.columns(ExportRun, 'r')}, {fixed_sql.columns(Account, 'a')}, "
        f"{told_nothing} FROM {fixed_sql.table(ExportRun)} r JOIN {fixed_sql.table(Account)} a "
        "ON a.id = r.account_id WHERE r.id = %s",
        [*params, run_id],
    )
    if row is None:
        raise ExportRun.DoesNotExist(f"run {run_id} does not exist")
    run, rest = fixed_sql.built(ExportRun, row)
    run.account, (quiet,) = fixed_sql.built(Account, rest)
    _log_end(run)
    alerts.after_run(run, code, told_nothing=bool(quiet))


def _log_end(run: ExportRun) -> None:
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


def fail_run(run_id: int, message: str, code: str = "", api_calls: int = 0) -> None:
    """End a run `failed` (auth, configuration, retries exhausted); the cursor stays put."""
    ExportRun.objects.filter(id=run_id).add_api_calls(api_calls)
    run = ExportRun.objects.filter(id=run_id).first()
    if run is None:
        return
    # A paused cursor keeps the parked record's error; the run row carries this one.
    ExportCursor.objects.filter(
        account_id=run.account_id, run_id=run_id, paused_record__isnull=True
    ).update(last_error_code=code or "EXPORT_FAILED", last_error_message=message)
    finish_run(run_id, Outcome.FAILED, message, code, account_id=run.account_id)
