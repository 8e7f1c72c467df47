"""Alerts: after each run and every few minutes, tell each change of an export once.

`after_run(run, code)` is what `runs.finish_run` calls at the end of every run;
`check_all()` is the periodic check (beat `CRMExport_Alerts`) for what happens without
a run: still paused a day later, an error spike's hour passing. Both call `evaluate`:

1. Read the account's AlertState (created on first use): what its alerts last said.
2. Read the facts its rules need: the cursor and its parked record, the newest runs,
   errors opened in the last hour, the Notifications settings.
3. `alert_rules.decide` (pure): the row's changes and the events they mean.
4. No change → done. Otherwise claim it with one UPDATE ... WHERE version = the version
   read in step 1; 0 rows → another worker changed the row first: start again at 1
   (its change is then known, and not told twice).
5. The claim's transaction writes one Notification per event and channel (email,
   webhook); once it commits, each is sent by the `send_notification` task (notify.py).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import CRMSettings
from accounts.validators import email_list
from exports.alerts import publish
from exports.alerts import text as alert_text
from exports.alerts.delivery import origin
from exports.alerts.rules import (
    API_LIMIT,
    ENDED,
    Event,
    Facts,
    Limits,
    Pause,
    RunEnd,
    Told,
    decide,
)
from exports.models import (
    AlertState,
    ExportCursor,
    ExportError,
    ExportRecord,
    ExportRun,
    Notification,
)

log = logging.getLogger(__name__)

__all__ = ["API_LIMIT", "after_run", "check_all", "evaluate", "told_nothing"]
CLAIM_TRIES = 5
TOLD_FIELDS = tuple(f.name for f in dataclasses.fields(Told))
SETTINGS_FIELDS = (
    "account__slug",
    "pause_on_export_errors",
    "alert_emails",
    "alert_webhook_url",
    "still_paused_after_hours",
    "error_spike_per_hour",
    "error_spike_percent",
)


def after_run(run: ExportRun, code: str = "", told_nothing: bool = False) -> None:
    """Evaluate the account after a run ended. Never raises: an alerting failure is logged
    and the run's outcome stands (the periodic check evaluates the account again).
    `told_nothing`: the account's alerts stood quiet as the run ended (`told_nothing()`,
    read with the run): then a clean run changes nothing, with no query."""
    if run.outcome not in ENDED:
        return  # skipped or nothing to do: nothing changed
    ended = RunEnd(run.id, run.outcome, code, run.message, run.attempted, run.failed, run.api_calls)
    if told_nothing and _clean(ended):
        return
    try:
        with transaction.atomic():  # a savepoint when the run's own transaction is open
            evaluate(run.account_id, ended)
    except Exception:  # noqa: BLE001 - alerts must never fail the run
        log.exception(
            "alert.failed account=%s run=%s: could not evaluate alerts; the run's outcome "
            "stands and the periodic check (CRMExport_Alerts) tries again",
            run.account_id,
            run.id,
        )


def check_all(now: datetime | None = None) -> int:
    """The periodic check: evaluate every account that is paused or whose alerts told
    something not yet over. Returns how many accounts were evaluated."""
    paused = ExportCursor.objects.filter(paused_record__isnull=False).values_list(
        "account_id", flat=True
    )
    pending = AlertState.objects.filter(
        Q(paused_record_id__isnull=False) | Q(failing=True) | Q(spiking=True)
    ).values_list("account_id", flat=True)
    account_ids = sorted(set(paused) | set(pending))
    for account_id in account_ids:
        try:
            with transaction.atomic():
                evaluate(account_id, None, now)
        except Exception:  # noqa: BLE001 - one account's failure must not stop the others
            log.exception("alert.failed account=%s: the periodic check goes on", account_id)
    return len(account_ids)


def evaluate(
    account_id: int, run: RunEnd | None = None, now: datetime | None = None
) -> list[Event]:
    """Steps 1-5 of the module docstring; the events this call claimed (and sent)."""
    now = now or timezone.now()
    for _ in range(CLAIM_TRIES):
        state, _created = AlertState.objects.get_or_create(account_id=account_id)
        told = Told(**{name: getattr(state, name) for name in TOLD_FIELDS})
        if run is not None and _nothing_to_tell(told, run):
            return []
        crm = CRMSettings.objects.filter(account_id=account_id).values(*SETTINGS_FIELDS).first()
        if crm is None:
            return []
        decision = decide(told, _facts(account_id, told, run, crm, now), now)
        if not decision.changes:
            return []
        claimed = AlertState.objects.filter(id=state.id, version=state.version).update(
            version=F("version") + 1, updated_at=now, **decision.changes
        )
        if claimed:
            _tell(account_id, crm, decision.events)
            return list(decision.events)
    log.warning("alert.contended account=%s: gave up after %s tries", account_id, CLAIM_TRIES)
    return []


def _nothing_to_tell(told: Told, run: RunEnd) -> bool:
    """The common case, in one query: all quiet, and a clean run changes nothing."""
    return dataclasses.replace(told, last_run_id=None) == Told() and _clean(run)


def _clean(run: RunEnd) -> bool:
    return run.outcome == "completed" and not run.failed and not run.code


def told_nothing(account_column: str) -> tuple[str, tuple[Any, ...]]:
    """SQL (and its parameters) for a statement of rows with an account id in
    `account_column`: the account's alerts stand quiet — no AlertState, or one that tells
    nothing (`Told()`, whatever its last run)."""
    something, params = _tells_something(connection.vendor)
    table = connection.ops.quote_name(AlertState._meta.db_table)
    return (
        f"NOT EXISTS(SELECT 1 FROM {table} WHERE {table}.{connection.ops.quote_name('account_id')}"
        f" = {account_column} AND ({something}))",
        params,
    )


@functools.cache  # compiled once per database vendor
def _tells_something(vendor: str) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause of an AlertState that tells something (a field off its default)."""
    something = Q()
    for field in dataclasses.fields(Told):
        if field.name == "last_run_id":
            continue
        if field.default is None:
            something |= Q(**{f"{field.name}__isnull": False})
        else:
            something |= ~Q(**{field.name: field.default})
    query = AlertState.objects.filter(something).query
    sql, params = query.where.as_sql(query.get_compiler(connection=connection), connection)
    return sql, tuple(params)


def _facts(
    account_id: int, told: Told, run: RunEnd | None, crm: dict[str, Any], now: datetime
) -> Facts:
    limits = Limits(
        still_paused_after=timedelta(hours=crm["still_paused_after_hours"]),
        spike_per_hour=crm["error_spike_per_hour"],
        spike_percent=crm["error_spike_percent"],
        failed_runs=settings.CRMSYNC_ALERT_FAILED_RUNS,
        circuit_failures=settings.CRMSYNC_CIRCUIT_AUTH_FAILURES,
        circuit_max_wait_s=settings.CRMSYNC_CIRCUIT_MAX_WAIT_S,
    )
    pause = _paused_now(account_id)
    told_pause = None
    if told.paused_record_id is not None and (
        pause is None or pause.record_id != told.paused_record_id
    ):
        told_pause = _record_pause(told.paused_record_id)
    newest = list(
        ExportRun.objects.filter(account_id=account_id, outcome__in=ENDED)
        .order_by("-id")
        .values_list("outcome", "message")[: limits.failed_runs]
    )
    failed_in_a_row = next((i for i, (o, _) in enumerate(newest) if o != "failed"), len(newest))
    pause_off = not crm["pause_on_export_errors"]
    errors_last_hour, counts = 0, None
    if pause_off or told.spiking:
        errors_last_hour = ExportError.objects.filter(
            account_id=account_id, first_seen_at__gte=now - timedelta(hours=1)
        ).count()
        counts = (
            ExportRun.objects.filter(account_id=account_id, outcome__in=ENDED, attempted__gt=0)
            .exclude(trigger=ExportRun.Trigger.REEXPORT)
            .order_by("-id")
            .values_list("failed", "attempted")
            .first()
        )
    return Facts(
        pause=pause,
        told_pause=told_pause,
        failed_in_a_row=failed_in_a_row,
        latest_ok=bool(newest) and newest[0][0] != "failed",
        last_failure=newest[0][1] if newest and newest[0][0] == "failed" else "",
        pause_off=pause_off,
        errors_last_hour=errors_last_hour,
        latest_run_counts=counts,
        run=run,
        limits=limits,
    )


def _paused_now(account_id: int) -> Pause | None:
    cursor = (
        ExportCursor.objects.select_related("paused_record")
        .filter(account_id=account_id, paused_record__isnull=False)
        .first()
    )
    if cursor is None or cursor.paused_record is None:
        return None
    record = cursor.paused_record
    error = ExportError.objects.filter(record_id=record.id).open().values("id", "fields").first()
    return Pause(
        record.id,
        record.external_id,
        record.sobject,
        cursor.last_error_code,
        cursor.last_error_message,
        cursor.paused_since,
        tuple(error["fields"] or ()) if error else (),
        error["id"] if error else None,
    )


def _record_pause(record_id: int) -> Pause | None:
    """The record an earlier alert said the export was paused at, and its error now."""
    record = ExportRecord.objects.filter(id=record_id).first()
    if record is None:
        return None
    error = ExportError.objects.filter(record_id=record_id).order_by("-id").first()
    if error is None:
        return Pause(record.id, record.external_id, record.sobject, "", "", None)
    return Pause(
        record.id,
        record.external_id,
        record.sobject,
        error.error_code,
        error.message,
        error.first_seen_at,
        tuple(error.fields or ()),
        error.id,
        error.status,
    )


def announce(account_id: int, event: Event) -> None:
    """Tell one event that is not a change of the export's state (a record skipped by hand,
    errors given up on) through the account's channels, once: the caller decides it once.
    Sent when the caller's transaction commits."""
    crm = CRMSettings.objects.filter(account_id=account_id).values(*SETTINGS_FIELDS).get()
    _tell(account_id, crm, (event,))


def _tell(account_id: int, crm: dict[str, Any], events: tuple[Event, ...]) -> None:
    """Log each event and write its Notifications; they are sent once this commits."""
    channels = _channels(crm)
    notifications = []
    for event in events:
        body = alert_text.payload(event, crm["account__slug"])
        log.warning(
            "alert.event account=%s event=%s channels=%s %s",
            crm["account__slug"],
            event.name,
            ",".join(c for c, _ in channels) or "none",
            body["summary"],
        )
        notifications += [
            Notification(account_id=account_id, event=event.name, channel=c, target=t, payload=body)
            for c, t in channels
        ]
    Notification.objects.bulk_create(notifications)
    ids = [str(n.id) for n in notifications]
    if ids:
        # robust: a broker that is down must not fail the run's commit; the periodic
        # check sends notifications still pending (notify.send_stuck).
        transaction.on_commit(lambda: publish.send_notifications(ids), robust=True)


def _channels(crm: dict[str, Any]) -> list[tuple[Notification.Channel, str]]:
    """(channel, target) pairs: the recipients, and the webhook's origin (not its path,
    which often carries a token)."""
    channels = []
    recipients = email_list(f"{crm['alert_emails']},{settings.CRMSYNC_ALERT_EMAILS}")
    if recipients:
        channels.append((Notification.Channel.EMAIL, ", ".join(recipients)))
    if crm["alert_webhook_url"]:
        channels.append((Notification.Channel.WEBHOOK, origin(crm["alert_webhook_url"])))
    return channels
