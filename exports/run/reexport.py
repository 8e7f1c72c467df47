"""The daily re-export of open ExportErrors (`CRMExport_ExportError`, docs/semantics.md).

The re-export sends from the task's own thread. When the task's soft time limit cuts it
(CELERY_TASK_SOFT_TIME_LIMIT, SoftTimeLimitExceeded raised wherever the thread stands, in
the middle of a request included), its run ends `failed` at once, and the account's lease
stays with that run until the request it may have left in flight can no longer land (the
request timeout and a second): no run writes the same records before it (`_cut`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import CRMSettings
from exports import keymap, story
from exports.keymap import KeyWrite, fold
from exports.models import (
    ExportCursor,
    ExportError,
    ExportErrorQuerySet,
    ExportRun,
    records_with_key,
)
from exports.run import runs, steering
from exports.run.call import ALREADY_ABSENT, DONE_ABSENT
from exports.run.task_arguments import ExportRequestError, require_id
from salesforce.client import Gateway, GatewayError, TransientError
from salesforce.lookup import find_ids
from salesforce.wire import Batch, RecordResult

log = logging.getLogger(__name__)

Status = ExportError.Status
TRIED = (Status.OPEN, Status.GIVEN_UP)  # what a re-export by hand tries
Outcome = story.RecordOutcome.Outcome
GroupKey = tuple[str, str, str]  # (sobject, external id field, external id)
CHUNK = 200
# After a cut, the lease outlasts a request still in flight by this much besides the request
# timeout (clocks of the hosts, the answer's last bytes), as a link's claim to send does.
IN_FLIGHT_MARGIN_S = 1.0
CUT = "SOFT_TIME_LIMIT"
# Does the org tell external ids apart by case in this (sobject, field)? (describe)
CaseSensitive = Callable[[str, str], bool]


@dataclass
class ReexportSummary:
    resolved: int = 0
    superseded: int = 0
    failed: int = 0
    api_calls: int = 0
    given_up: int = 0
    accounts_failed: list[str] = field(default_factory=list)

    def add(self, other: ReexportSummary) -> None:
        self.resolved += other.resolved
        self.superseded += other.superseded
        self.failed += other.failed
        self.api_calls += other.api_calls
        self.given_up += other.given_up
        self.accounts_failed += other.accounts_failed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Group:
    """The open errors of one key, and what re-exporting them would send: the merged
    `fields` of an upsert, or a deletion (`delete`). `moot`: errors a later operation of
    the key made pointless (superseded without a call)."""

    key: GroupKey
    error_ids: tuple[int, ...]
    fields: dict[str, Any]
    delete: bool = False
    moot: tuple[int, ...] = ()
    last_record_id: int = 0  # the newest record of `error_ids`


# One record of a key, in outbox order: (record id, a deletion?, its open error's id or None
# for a record written successfully, its fields).
Event = tuple[int, bool, int | None, dict[str, Any]]


def plan_group(key: GroupKey, events: Iterable[Event]) -> Group:
    """Pure: what re-exporting a key's open errors sends, given the key's records from its
    oldest open error on (errors and records written successfully), in outbox order.

    - Upsert errors merge their fields oldest first (the newest value wins); a record
      written later drops the fields it wrote (a re-export never overwrites newer data).
    - A deletion (an error or written) makes every error before it moot: the re-export
      never resurrects a deleted record. A deletion error is sent as a deletion.
    - An upsert after a deletion error makes that error moot: the re-export never deletes
      a newer record.
    """
    live: list[int] = []
    moot: list[int] = []
    fields: dict[str, Any] = {}
    delete = False
    last = 0
    for record_id, is_delete, error_id, record_fields in sorted(events, key=lambda e: e[0]):
        if is_delete or delete:  # a deletion, or the first upsert after a deletion error
            moot += live
            live, fields, delete = [], {}, False
        if is_delete:
            delete = error_id is not None
        elif error_id is None:
            for name in record_fields:
                fields.pop(name, None)
        else:
            fields.update(record_fields)
        if error_id is not None:
            live.append(error_id)
            last = record_id
    fields.pop(key[1], None)
    return Group(key, tuple(live), fields, delete, tuple(moot), last)


def reexport_errors(account_id: int | None = None, now: datetime | None = None) -> ReexportSummary:
    """Re-export every open ExportError, of all accounts or one.

    1. Take the accounts with open errors whose Export to CRM is on. Per account, errors
       open longer than its "give up after N days" (at `now`) become `given_up` first.
    2. Per account, hold the run lease with a run of trigger `reexport`, so a re-export
       never races a regular run (a held lease → retried later with backoff).
    3. Group the open errors per (object, external id) in record order and merge their
       fields, newest value winning; drop what a newer exported record already wrote; a
       later deletion makes earlier errors moot, a later upsert an earlier deletion
       error (`plan_group`). External ids compare as the org compares them: where
       describe says the field ignores case, "ABC" and "abc" are one group (the newest
       spelling is sent).
    4. Moot or nothing left → `superseded`, no API call. Otherwise send the rest once,
       ≤200 keys per call (a deletion by Salesforce Id), and apply the answer to every
       error of the group: written → `resolved`; rejected → attempts + 1 with the new
       code and message.
    """
    errors = ExportError.objects.open()
    if account_id is not None:
        runs.load_settings(account_id)  # a clear error for an unknown account
        errors = errors.filter(account_id=account_id)
    summary = ReexportSummary()
    for acc_id in _enabled_accounts(errors.values_list("account_id", flat=True).distinct()):
        summary.given_up += _give_up(acc_id, now or timezone.now())
        summary.add(_reexport_account(acc_id, errors.filter(account_id=acc_id)))
    return summary


def _give_up(account_id: int, now: datetime) -> int:
    """The account's errors open longer than it allows at `now` become `given_up` (steering)."""
    days = CRMSettings.objects.filter(account_id=account_id).values_list(
        "give_up_after_days", flat=True
    )[0]
    return steering.give_up_old_errors(account_id, days, now) if days else 0


def reexport_error(error_id: int) -> ReexportSummary:
    """Re-export one ExportError (admin action, Flower): an open one, or one given up on (by
    hand it is tried again). Otherwise nothing to do."""
    require_id("error_id", error_id)
    error = ExportError.objects.filter(id=error_id).first()
    if error is None:
        raise ExportRequestError(f"export error {error_id} does not exist")
    if error.status not in TRIED or not _enabled_accounts([error.account_id]):
        return ReexportSummary()
    errors = ExportError.objects.filter(id=error_id, status__in=TRIED)
    return _reexport_account(error.account_id, errors)


def _enabled_accounts(account_ids: Iterable[int]) -> list[int]:
    return list(
        CRMSettings.objects.exporting()
        .filter(account_id__in=list(account_ids))
        .order_by("account_id")
        .values_list("account_id", flat=True)
    )


def _reexport_account(account_id: int, errors: ExportErrorQuerySet) -> ReexportSummary:
    crm = CRMSettings.objects.select_related("account").get(account_id=account_id)
    run_id = runs.start_lease(account_id, ExportRun.Trigger.REEXPORT)
    if run_id is None:
        raise TransientError(f"account {account_id} is being exported; re-export retries later")
    gateway = Gateway(crm)
    try:
        return _reexport_holding_lease(run_id, crm, gateway, errors)
    except SoftTimeLimitExceeded:
        _cut(run_id, crm, gateway.api_calls)
        raise  # the task retries (exports.tasks.RETRY)


def _reexport_holding_lease(
    run_id: int, crm: CRMSettings, gateway: Gateway, errors: ExportErrorQuerySet
) -> ReexportSummary:
    summary = ReexportSummary()
    try:
        groups = _groups(crm.account_id, errors, gateway.external_id_case_sensitive)
        _send_groups(crm.account_id, run_id, gateway, groups, summary)
    except GatewayError as exc:
        runs.fail_run(run_id, exc.message, exc.code, api_calls=gateway.api_calls)
        if not exc.permanent:
            raise
        summary.accounts_failed.append(f"{crm.account.slug}: {exc.message}")
        return summary
    summary.api_calls = gateway.api_calls
    ExportRun.objects.filter(id=run_id).update(
        attempted=summary.resolved + summary.failed + summary.superseded,
        exported=summary.resolved,
        failed=summary.failed,
        api_calls=gateway.api_calls,
    )
    runs.finish_run(run_id, ExportRun.Outcome.COMPLETED)
    return summary


def _cut(run_id: int, crm: CRMSettings, api_calls: int) -> None:
    """The soft time limit cut the re-export of `crm`'s account, perhaps while a request was
    in flight (the org may still apply it). End the run `failed` now, saying so, and hold the
    account's lease for that run until such a request can no longer land; then the lease
    expires and a run, or this re-export's retry, takes it. The open errors stay open.

    Whatever the cut left of this thread's database connection (a query it interrupted) is
    closed first. If the database cannot be written now, the lease expires as for a lost
    worker (CRMSYNC_RUN_LEASE_S)."""
    hold_s = crm.timeout_seconds + IN_FLIGHT_MARGIN_S
    message = (
        "Cut by the task's soft time limit (CELERY_TASK_SOFT_TIME_LIMIT) while re-exporting; "
        "the open errors stay open and the re-export is retried."
    )
    try:
        if not connection.is_usable():
            connection.close()
        with transaction.atomic():
            runs.fail_run(run_id, message, CUT, api_calls=api_calls)
            held = ExportCursor.objects.filter(
                account_id=crm.account_id, run_id__isnull=True
            ).update(run_id=run_id, lease_expires_at=timezone.now() + timedelta(seconds=hold_s))
    except DatabaseError:
        log.warning(
            "reexport.cut account=%s run=%s: the run could not be ended; its lease expires",
            crm.account.slug,
            run_id,
        )
        return
    log.warning(
        "reexport.cut account=%s run=%s: cut by the soft time limit; the lease is held %.0f s "
        "more for a request that may still be in flight",
        crm.account.slug,
        run_id,
        hold_s if held else 0,
    )


def _groups(
    account_id: int, errors: ExportErrorQuerySet, case_sensitive: CaseSensitive
) -> list[Group]:
    rows = list(
        errors.order_by("record_id").values_list(
            "id",
            "record_id",
            "record__sobject",
            "record__external_id_field",
            "record__external_id",
            "record__operation",
            "record__fields",
        )
    )
    by_key: dict[GroupKey, list[Event]] = defaultdict(list)
    spelling: dict[GroupKey, str] = {}  # the newest spelling of each folded key
    for error_id, record_id, sobject, ext_field, ext_id, operation, fields in rows:
        key = _key(sobject, ext_field, ext_id, case_sensitive)
        by_key[key].append((record_id, operation == "delete", error_id, fields))
        spelling[key] = ext_id
    for key, event in _written_later(account_id, by_key, case_sensitive):
        by_key[key].append(event)
    return [plan_group((*key[:2], spelling[key]), events) for key, events in by_key.items()]


def _key(sobject: str, field: str, ext_id: str, case_sensitive: CaseSensitive) -> GroupKey:
    return (sobject, field, ext_id if case_sensitive(sobject, field) else ext_id.casefold())


def _written_later(
    account_id: int, by_key: dict[GroupKey, list[Event]], case_sensitive: CaseSensitive
) -> Iterable[tuple[GroupKey, Event]]:
    """The records of each group's key written successfully after its oldest open error:
    behind the cursor and with no error that is still open, dismissed or superseded.
    Candidates are found by external id in upper case (SQL UPPER, exportrecord_key), then
    keyed as the org compares them."""
    if not by_key:
        return
    cursor = ExportCursor.objects.filter(account_id=account_id).first()
    done_up_to = cursor.last_exported_id if cursor else 0
    oldest = {key: min(e[0] for e in events) for key, events in by_key.items()}
    ext_ids = sorted({key[2] for key in by_key})
    for start in range(0, len(ext_ids), 500):
        chunk = ext_ids[start : start + 500]
        candidates = (
            records_with_key(account_id, chunk)
            .filter(id__gt=min(oldest.values()), id__lte=done_up_to)
            .exclude(
                errors__status__in=[
                    Status.OPEN,
                    Status.DISMISSED,
                    Status.SUPERSEDED,
                    Status.GIVEN_UP,
                ]
            )
        )
        for record_id, sobject, ext_field, ext_id, operation, fields in candidates.values_list(
            "id", "sobject", "external_id_field", "external_id", "operation", "fields"
        ):
            key = _key(sobject, ext_field, ext_id, case_sensitive)
            if key in oldest and record_id > oldest[key]:
                yield key, (record_id, operation == "delete", None, fields)


def _send_groups(
    account_id: int, run_id: int, gateway: Gateway, groups: list[Group], summary: ReexportSummary
) -> None:
    """Supersede what is moot or left with nothing to send; send the rest, ≤200 keys per
    call (upserts by external id, deletions by Salesforce Id); note what was written in
    the key map."""
    now = timezone.now()
    moot = [i for g in groups for i in g.moot]
    moot += [i for g in groups if not g.fields and not g.delete for i in g.error_ids]
    summary.superseded += ExportError.objects.filter(id__in=moot).supersede(now)
    _tell_story(moot, Outcome.SUPERSEDED, now, run_id)
    by_target: dict[tuple[str, str, bool], list[Group]] = defaultdict(list)
    for group in groups:
        if group.error_ids and (group.fields or group.delete):
            by_target[(group.key[0], group.key[1], group.delete)].append(group)
    transient = 0
    writes: list[KeyWrite] = []
    for (sobject, ext_field, delete), todo in by_target.items():
        sensitive = gateway.external_id_case_sensitive(sobject, ext_field)
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            if delete:
                ids, results = _delete_chunk(account_id, gateway, chunk)
            else:
                payloads = [{**g.fields, ext_field: g.key[2]} for g in chunk]
                results = gateway.upsert_collection(sobject, ext_field, payloads, False)
                ids = [r.sf_id or "" for r in results]
            transient += _apply(chunk, results, now, summary, run_id)
            writes += [
                KeyWrite(
                    g.last_record_id,
                    sobject,
                    ext_field,
                    fold(g.key[2], sensitive),
                    g.key[2],
                    sf_id or None,
                    None if delete else r.created,
                    delete,
                )
                for g, r, sf_id in zip(chunk, results, ids, strict=True)
                if r.ok
            ]
    keymap.note_writes(account_id, writes, now)
    keymap.tell(account_id, writes)
    if transient:
        raise TransientError(f"{transient} records failed transiently; re-export retries later")


def _delete_chunk(
    account_id: int, gateway: Gateway, chunk: list[Group]
) -> tuple[list[str], list[RecordResult]]:
    """Delete the keys of `chunk` (≤200, one object) by Salesforce Id: the key map's, else
    the org's (one query); a key the org does not have is done already."""
    sobject, ext_field = chunk[0].key[:2]
    known = keymap.ids_for(account_id, [g.key for g in chunk])
    missing = [g.key[2] for g in chunk if g.key not in known]
    found = find_ids(gateway, sobject, ext_field, missing) if missing else {}
    ids = [known.get(g.key) or found.get(g.key[2], "") for g in chunk]
    sent = [i for i in ids if i]
    answers = iter(
        gateway.upsert_batches([Batch(sobject, ext_field, sent, delete=True)], False)
        if sent
        else []
    )
    results = [next(answers) if i else DONE_ABSENT for i in ids]
    gone = [r if r.ok or r.error_code not in ALREADY_ABSENT else DONE_ABSENT for r in results]
    return ids, gone


def _apply(
    chunk: list[Group],
    results: list[RecordResult],
    now: datetime,
    summary: ReexportSummary,
    run_id: int,
) -> int:
    """Apply a call's answers to its groups' errors (and their records' stories); the number
    that failed transiently."""
    resolved = [g for g, r in zip(chunk, results, strict=True) if r.ok]
    if resolved:
        _errors_of(resolved).resolve(now)
        _tell_story([i for g in resolved for i in g.error_ids], Outcome.WRITTEN, now, run_id)
    summary.resolved += sum(len(g.error_ids) for g in resolved)
    transient = 0
    for group, result in zip(chunk, results, strict=True):
        if result.ok:
            continue
        if result.transient or result.rolled_back:
            transient += 1
            continue
        ExportError.objects.filter(id__in=group.error_ids).rejected_again(
            result.error_code, result.message, result.fields, now
        )
        _tell_story(
            list(group.error_ids), Outcome.REJECTED, now, run_id, result.error_code, result.message
        )
        summary.failed += len(group.error_ids)
    return transient


def _tell_story(
    error_ids: list[int],
    outcome: str,
    now: datetime,
    run_id: int,
    code: str = "",
    message: str = "",
) -> None:
    """A result in the stories of the errors' records (exports.story)."""
    if error_ids:
        records = ExportError.objects.filter(id__in=error_ids).values_list("record_id", flat=True)
        story.note(records, outcome, now, run_id, code, message)


def _errors_of(groups: list[Group]) -> ExportErrorQuerySet:
    return ExportError.objects.filter(id__in=[i for g in groups for i in g.error_ids])
