"""Steering one record: skip the record an account is paused at, and give up on errors open
longer than the account allows (docs/semantics.md › Steering one record).

Both record who and when on the ExportError, a result in the record's story, a WARNING log
line and one alert event (`skipped`, `gave_up`), in the same transaction as the change.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from exports import story
from exports.alerts import evaluate
from exports.alerts.rules import Event
from exports.models import AlertEvent, AlertState, ExportCursor, ExportError, ExportRecord

log = logging.getLogger("exports.pipeline")  # the export's log stream (docs/operations.md › Logs)

State = ExportCursor.State


class NotPausedThere(Exception):
    """The account is not paused at that record (any more): nothing was changed."""


def skip_paused_record(
    account_id: int, record_id: int, by: str, now: datetime | None = None
) -> ExportError | None:
    """Let the export go on past the record the account is paused at: it is handled as pause
    off would have handled it (its error stays open for the daily re-export) and the next
    run starts after it; pause stays on for every later record.

    One compare-and-swap on the cursor: paused at `record_id`, not moved past it, and no
    run holding the lease (a run retrying the record now, or one that moved on first,
    wins). Otherwise NotPausedThere and nothing changes. Returns the record's open error."""
    now = now or timezone.now()
    with transaction.atomic():
        moved = (
            ExportCursor.objects.filter(
                account_id=account_id,
                state=State.PAUSED,
                paused_record_id=record_id,
                last_exported_id__lt=record_id,
            )
            .filter(Q(run_id__isnull=True) | Q(lease_expires_at__lt=now))
            .update(
                state=State.IDLE,
                paused_record=None,
                paused_since=None,
                last_error_code="",
                last_error_message="",
                last_exported_id=record_id,
                retry_only=None,
                retry_until_id=None,
            )
        )
        if not moved:
            raise NotPausedThere(_why_not(account_id, record_id, now))
        error = ExportError.objects.filter(record_id=record_id).open().first()
        if error is not None:
            ExportError.objects.filter(id=error.id).update(skipped_by=by[:150], skipped_at=now)
            error.skipped_by, error.skipped_at = by[:150], now
        story.note([record_id], story.RecordOutcome.Outcome.SKIPPED, now, message=f"by {by}")
        evaluate.announce(account_id, _skipped_event(record_id, error, by, now))
    record = ExportRecord.objects.select_related("account").get(id=record_id)
    log.warning(
        "export.record.skipped account=%s record=%s by=%s", record.account.slug, record_id, by
    )
    return error


def _why_not(account_id: int, record_id: int, now: datetime) -> str:
    cursor = ExportCursor.objects.filter(account_id=account_id).first()
    if cursor is None or cursor.paused_record_id is None:
        return "the account is not paused (a run may have moved on): nothing was changed"
    if cursor.paused_record_id != record_id:
        return (
            f"the account is paused at record #{cursor.paused_record_id}, not #{record_id}: "
            "nothing was changed"
        )
    return "a run is retrying the record right now: nothing was changed; try again in a minute"


def _skipped_event(record_id: int, error: ExportError | None, by: str, now: datetime) -> Event:
    record = ExportRecord.objects.get(id=record_id)
    details = {
        "record_id": record_id,
        "external_id": record.external_id,
        "sobject": record.sobject,
        "error_code": error.error_code if error else "",
        "error_message": error.message if error else "",
        "error_id": error.id if error else None,
        "skipped_by": by,
    }
    return Event(AlertEvent.SKIPPED, now, details)


def give_up_old_errors(account_id: int, after_days: int, now: datetime | None = None) -> int:
    """Mark `given_up` the open errors of the account first seen more than `after_days`
    ago — except the paused record's (pause holds it: skip it first) — and tell one
    `gave_up` event a day (how many, of which codes). Returns how many were given up."""
    now = now or timezone.now()
    paused = (
        ExportCursor.objects.filter(account_id=account_id)
        .values_list("paused_record_id", flat=True)
        .first()
    )
    old = ExportError.objects.open().filter(
        account_id=account_id, first_seen_at__lt=now - timedelta(days=after_days)
    )
    if paused is not None:
        old = old.exclude(record_id=paused)
    with transaction.atomic():
        rows = list(old.select_for_update().values_list("id", "record_id", "error_code"))
        if not rows:
            return 0
        ExportError.objects.filter(id__in=[r[0] for r in rows]).give_up(now)
        reason = f"open longer than {after_days} days"
        story.note([r[1] for r in rows], story.RecordOutcome.Outcome.GIVEN_UP, now, message=reason)
        if _claim_todays_alert(account_id, now):
            codes = dict(Counter(r[2] for r in rows))
            details = {"count": len(rows), "codes": codes, "after_days": after_days}
            evaluate.announce(account_id, Event(AlertEvent.GAVE_UP, now, details))
    log.warning(
        "export.errors.given_up account=%s count=%s after_days=%s",
        account_id,
        len(rows),
        after_days,
    )
    return len(rows)


def _claim_todays_alert(account_id: int, now: datetime) -> bool:
    """One `gave_up` alert per account and day: claim today's (compare-and-swap)."""
    today = timezone.localdate(now)
    AlertState.objects.get_or_create(account_id=account_id)
    return bool(
        AlertState.objects.filter(account_id=account_id)
        .exclude(gave_up_on=today)
        .update(gave_up_on=today)
    )
