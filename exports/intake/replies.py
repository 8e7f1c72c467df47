"""Enqueue a request's records, all or nothing, and remember the answer under its
Idempotency-Key (docs/integration.md › Idempotency).

1. `replayed(account, key, body_digest)`: the answer kept for this account and key, if it is
   younger than REPLAY_HOURS: the same body (by its SHA-256) gets it again (`replayed` set);
   another body is `KeyReused` (422): the key stands for one body.
2. `enqueue(...)`: one transaction. Lock the account's row (as the outbox does, so requests
   of one account, keyed or not, go one after the other), look for the key again (a request
   with the same key may have committed meanwhile: its answer is ours), append the records
   (`exports.outbox.enqueue_numbered`: validated, in order; an InvalidRecord rolls everything
   back), read their ids, and keep the answer with the key. So a key never enqueues twice.
3. Only enqueued answers (200/201) are kept: a refused request enqueued nothing, and its key
   may be used again. `forget_expired` deletes kept answers past REPLAY_HOURS, a bounded
   chunk at a time, after each keyed request.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from exports.intake.models import REPLAY_HOURS, IntakeReply
from exports.models import ExportRecord
from exports.outbox import enqueue_numbered

EXPIRED_CHUNK = 500


@dataclass(frozen=True)
class Reply:
    status: int
    answer: dict[str, Any]
    replayed: bool = False


class KeyReused(Exception):
    """The Idempotency-Key was used with another body within REPLAY_HOURS."""

    def __init__(self, key: str, first_used: datetime) -> None:
        super().__init__(key)
        self.key = key
        self.first_used = first_used


def body_digest(media: str, body: bytes) -> str:
    """The SHA-256 a key's body is known by (its media type counts: the same bytes read as
    lines or as an array are different requests)."""
    return hashlib.sha256(media.encode() + b"\n" + body).hexdigest()


def replayed(account: Account, key: str, digest: str) -> Reply | None:
    """The answer kept under `key` for this body, or None; KeyReused for another body."""
    kept = (
        IntakeReply.objects.filter(account=account, key=key, created_at__gte=_oldest_kept())
        .only("body_digest", "status", "answer", "created_at")
        .first()
    )
    if kept is None:
        return None
    if not hmac.compare_digest(kept.body_digest, digest):
        raise KeyReused(key, kept.created_at)
    return Reply(kept.status, kept.answer, replayed=True)


def enqueue(
    account: Account, numbered: Iterable[tuple[int, Any]], key: str | None, digest: str
) -> Reply:
    """Step 2 of the module's docstring: append, in order, all or nothing; the answer."""
    with transaction.atomic():
        list(Account.objects.select_for_update(no_key=True).filter(pk=account.pk).values("pk"))
        if key is not None:
            found = replayed(account, key, digest)
            if found is not None:
                return found
            IntakeReply.objects.filter(account=account, key=key).delete()  # an expired one
        result = enqueue_numbered(account, numbered)
        ids: list[int] = []
        if result.count:
            ids = list(
                ExportRecord.objects.filter(
                    account=account, pk__gte=result.first_id, pk__lte=result.last_id
                )
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        answer = {
            "enqueued": result.count,
            "first_id": result.first_id,
            "last_id": result.last_id,
            "ids": ids,
        }
        reply = Reply(201 if result.count else 200, answer)
        if key is not None:
            IntakeReply.objects.create(
                account=account,
                key=key,
                body_digest=digest,
                status=reply.status,
                answer=answer,
                created_at=timezone.now(),
            )
    return reply


def forget_expired() -> int:
    """Delete up to EXPIRED_CHUNK kept answers older than REPLAY_HOURS; how many went."""
    old = IntakeReply.objects.filter(created_at__lt=_oldest_kept()).order_by("created_at")
    pks = list(old.values_list("pk", flat=True)[:EXPIRED_CHUNK])
    if not pks:
        return 0
    deleted, _ = IntakeReply.objects.filter(pk__in=pks).delete()
    return deleted


def _oldest_kept() -> datetime:
    return timezone.now() - timedelta(hours=REPLAY_HOURS)
