"""A link's failures: a call retried (said as it happens), and a link that failed for good
(its run ends `failed`, with a reason a person reads: `outage.failure_message`)."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.utils import timezone

from accounts.models import Account
from exports.models import ExportCursor, ExportRecord, ExportRun
from exports.run import claim, fence, link_state, outage
from exports.run.runs import fail_run
from exports.run.task_arguments import is_id

log = logging.getLogger("exports.pipeline")  # the export's log stream (docs/operations.md › Logs)


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


def resume_at(
    account_id: int, run_id: int, link_id: str, backoff_s: float
) -> tuple[int, float] | None:
    """Where a new link goes on from after `link_id` failed transiently, and in how many
    seconds: the cursor as that link left it, once the backoff has passed and its claim to
    send is free (a soft time limit leaves it kept for calls still in flight: it expires
    after them). None: the run holds the lease no more (nothing goes on)."""
    found = (
        ExportCursor.objects.filter(account_id=account_id, run_id=run_id)
        .values_list("last_exported_id", "link_id", "claim_expires_at")
        .first()
    )
    if found is None:
        return None
    position, holder, expires_at = found
    kept_s = 0.0
    if holder == link_id and expires_at is not None:
        kept_s = (expires_at - timezone.now()).total_seconds() + fence.SAFETY_S
    return position, max(backoff_s, kept_s)


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
    cursor, run, position = link_state.read(account_id, run_id, after_id, link_id)
    if cursor is None or run is None or position is None:
        return
    if not claim.may_end_run(fence.held(cursor), link_id, timezone.now()):
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
