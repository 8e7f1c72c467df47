"""A call's answer, committed: the cursor moves (compare-and-swap on run and position),
ExportErrors open, bump or resolve, and the run's counts grow, in one transaction."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exports import fixed_sql, keymap, story
from exports.models import ExportCursor, ExportError, ExportRun
from exports.run import runs
from exports.run.call import Answer, Call
from exports.run.claim import Token
from exports.run.decisions import CallDecision, Rejection
from exports.run.payload import Row

log = logging.getLogger("exports.pipeline")  # the export's log stream (docs/operations.md › Logs)

# A call's additions to its run's counts (attempted, exported, failed, API calls; the first
# record if none yet).
_COUNTS = (
    '"attempted" = "attempted" + %s, "exported" = "exported" + %s, "failed" = "failed" + %s, '
    '"api_calls" = "api_calls" + %s, "first_record_id" = COALESCE("first_record_id", %s)'
)
# The run's end with its last call's counts: finished, message, outcome, unless the run has
# one (each CASE reads the row as it was).
_RUN_ENDED = (
    ', "finished_at" = CASE WHEN "outcome" = \'\' THEN %s ELSE "finished_at" END'
    ', "message" = CASE WHEN "outcome" = \'\' THEN %s ELSE "message" END'
    ', "outcome" = CASE WHEN "outcome" = \'\' THEN %s ELSE "outcome" END'
)


def move_cursor(
    cursor: ExportCursor,
    run_id: int,
    token: Token,
    claim_s: float,
    call: Call,
    answer: Answer,
    ends: str = "",
) -> bool:
    """Persist a call's outcome in one transaction, renewing the link's claim to send for
    `claim_s`; False if another link holds the claim or moved the cursor first. Then
    `cursor` holds what this transaction wrote. `ends`: the call ends its run with this
    outcome, written by the same two UPDATEs (as `runs.finish_run` writes it: the lease and
    claim free, the outcome unless the run has one); then `runs.tell_end`."""
    now = timezone.now()
    decision, rows = answer.decision, call.rows
    position = decision.cursor_to if decision.cursor_to is not None else call.after_id
    retry = bool(decision.retry) and not call.crm.pause_on_export_errors
    moved_to = {
        "last_exported_id": position,
        "claim_expires_at": now + timedelta(seconds=claim_s),
        "lease_expires_at": now + timedelta(seconds=settings.CRMSYNC_RUN_LEASE_S),
        "records_per_call": cursor.records_per_call,  # as the link adapted it
        # Pause off: what a retry of this call may send (checked against its task message).
        "retry_only": list(decision.retry) if retry else None,
        "retry_until_id": (call.until_id or rows[-1].key.id) if retry else None,
        "instance_url": call.gateway.instance_url or cursor.instance_url,
        **_pause_fields(cursor, decision, position, now),
    }
    keys = answer.key_writes()
    ended, ended_params = _ended(moved_to) if ends else ("", [])
    with transaction.atomic():
        moved = fixed_sql.update(
            ExportCursor,
            moved_to,
            {
                "id": cursor.id,
                "run_id": run_id,
                "last_exported_id": call.after_id,
                "link_id": token.link_id,
                "link_try": token.link_try,
            },
            also=ended,
            also_params=ended_params,
        )
        if not moved:
            log.warning("export.batch.lost_race run=%s after=%s", run_id, call.after_id)
            return False
        _record_rejections(cursor.account_id, rows, decision.rejected, now)
        story.note_call(
            cursor.account_id, run_id, keys, _rejections(decision), now, decision.written
        )
        if cursor.paused_record_id in decision.written:
            ExportError.objects.filter(record_id=cursor.paused_record_id).resolve(now)
        _count(run_id, call, answer, position, (now, "", ends) if ends else ())
    for field, value in moved_to.items():
        setattr(cursor, field, value)
    keymap.tell(cursor.account_id, keys)
    return True


def _count(run_id: int, call: Call, answer: Answer, position: int, ended: tuple[Any, ...]) -> None:
    """Add the call to its run's counts (and end the run: `ended`, _RUN_ENDED's values)."""
    decision = answer.decision
    written, rejected = len(decision.written), len(decision.rejected)
    last = max([position, *decision.written, *(r.record_id for r in decision.rejected)])
    fixed_sql.update(
        ExportRun,
        {"last_record_id": last},
        {"id": run_id},
        also=_COUNTS + (_RUN_ENDED if ended else ""),
        also_params=[
            *(written + rejected, written, rejected, answer.api_calls, call.rows[0].key.id),
            *ended,
        ],
    )


def ending(call: Call, answer: Answer, attempted: int) -> str:
    """The outcome a call's move ends its run with (`attempted` records before it): the call
    took the last records waiting when read and its answer stops the run no other way (a
    pause, a retry, the API limit: `link._next_step`); "": the run goes on."""
    decision = answer.decision
    if not call.last or decision.pause_at is not None or decision.retry:
        return ""
    if answer.near_api_limit(call.crm):
        return ""
    done = attempted + len(decision.written) + len(decision.rejected)
    return ExportRun.Outcome.COMPLETED if done else ExportRun.Outcome.NOTHING_TO_DO


def _ended(moved_to: dict[str, Any]) -> tuple[str, list[Any]]:
    """A run's end in its last move (`moved_to` gains the free lease and claim): the state
    idle, or paused while a record stays parked (SQL: the UPDATE reads the parked record as
    it was, which this move does not change)."""
    moved_to.update(runs.RELEASED)
    if "paused_record_id" in moved_to:  # this move parks or frees a record: its state says
        if moved_to["state"] != ExportCursor.State.PAUSED:
            moved_to["state"] = ExportCursor.State.IDLE
        return "", []
    return runs.PAUSED_ELSE, [ExportCursor.State.PAUSED, ExportCursor.State.IDLE]


def _rejections(decision: CallDecision) -> list[story.Result]:
    """Each rejected record's result, for its story (exports.story); the written ones share
    one row."""
    return [(r.record_id, "rejected", r.error_code, r.message) for r in decision.rejected]


def _pause_fields(
    cursor: ExportCursor, decision: CallDecision, position: int, now: datetime
) -> dict[str, Any]:
    if decision.pause_at is not None:
        rejection = decision.rejected[0]
        still_same = cursor.paused_record_id == decision.pause_at
        return {
            "state": ExportCursor.State.PAUSED,
            "paused_record_id": decision.pause_at,
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
    account_id: int, rows: list[Row], rejected: tuple[Rejection, ...], now: datetime
) -> None:
    """Open an ExportError per rejected record, or bump the open one it already has."""
    if not rejected:
        return
    keys = {row.key.id: row.key for row in rows}
    open_errors = {
        e.record_id: e
        for e in ExportError.objects.filter(record_id__in=[r.record_id for r in rejected]).open()
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
