"""A link's claim to send, kept on its account's cursor (docs/semantics.md › One sender per
account): the compare-and-swaps that carry out `exports.run.claim`'s decisions.

A link takes the claim before its first request (`take`), renews it with every cursor
move (`exports.run.cursor_move`) and before a call when little of it is left (`keep`),
checks it before every request (`Claim.send_by`) and releases it when it ends (`release`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from exports import fixed_sql
from exports.models import ExportCursor
from exports.run import claim
from exports.run.claim import Token
from exports.run.steps import STALE, Stopped, Wait

log = logging.getLogger("exports.pipeline")  # the export's log stream (docs/operations.md › Logs)

# Seconds kept between the last moment a request may go out under a claim and the claim's
# end, besides the request timeout (clocks of the hosts, the answer's last bytes).
SAFETY_S = 1.0


@dataclass
class Claim:
    """The claim a link holds (or asks for): its token, the cursor it is kept on, how long
    a claim or its renewal holds, and until when (monotonic) it holds as last renewed."""

    run_id: int
    token: Token
    cursor: ExportCursor
    seconds: float
    until: float = 0.0

    def send_by(self, timeout_s: float) -> float:
        """(monotonic) The last moment a request may go out under the claim: one sent then
        ends (answered or timed out) before the claim expires."""
        return self.until - timeout_s - SAFETY_S

    def renewed(self, at: float) -> None:
        """A cursor move renewed it (`at`: monotonic, taken before the move)."""
        self.until = at + self.seconds


def seconds_for(timeout_s: float) -> float:
    """How long a claim holds: the longest request in flight, and the margin to renew it."""
    return timeout_s + SAFETY_S + settings.CRMSYNC_CLAIM_MARGIN_S


def held(cursor: ExportCursor) -> claim.Held:
    return claim.Held(cursor.link_id, cursor.link_try, cursor.claim_expires_at)


def take(c: Claim, account_id: int, after_id: int) -> Stopped | Wait | None:
    """Take the claim to send (`claim.verdict`, then a compare-and-swap); None once taken,
    else why the link sends nothing."""
    now_held, now = held(c.cursor), timezone.now()
    verdict = claim.verdict(now_held, c.token, now)
    if verdict is claim.Verdict.CLAIM and _swap(c, now_held):
        return None
    if verdict is claim.Verdict.CLAIM:  # another copy took it between the read and the swap
        verdict, now_held = claim.Verdict.STALE, held(ExportCursor.objects.get(id=c.cursor.id))
    return _not_taken(verdict, now_held, account_id, c.run_id, after_id, now)


def keep(c: Claim, timeout_s: float, account_id: int) -> bool:
    """Before a call: renew the claim if less than half its margin is left for sending
    (cursor moves renew it; a long call or a slow database may leave it short). False: the
    claim is another link's now (this one's had expired)."""
    if c.send_by(timeout_s) - time.monotonic() > settings.CRMSYNC_CLAIM_MARGIN_S / 2:
        return True
    if _swap(c, held(c.cursor)):
        return True
    log.warning(
        "export.batch.claim_lost account=%s run=%s after=%s: another link holds the claim "
        "to send; this one sends nothing more",
        account_id,
        c.run_id,
        c.cursor.last_exported_id,
    )
    return False


def release(c: Claim) -> None:
    """The link sends nothing more (no call in flight): the claim is free for the next link,
    and a copy of this try finds it stale (`claim.released`). A release that fails leaves
    the claim to expire."""
    free = claim.released(c.token)
    try:
        fixed_sql.update(
            ExportCursor,
            {"link_try": free.link_try, "claim_expires_at": None},
            {"id": c.cursor.id, "link_id": c.token.link_id, "link_try": c.token.link_try},
        )
    except DatabaseError:
        log.warning("export.batch.unreleased run=%s: the claim to send expires", c.run_id)


def kept(c: Claim, in_flight: int) -> None:
    """The soft time limit cut the link with calls in flight: the claim is not released; it
    expires by itself, after them, and the link's retry goes on from the cursor then."""
    log.warning(
        "export.batch.claim_kept account=%s run=%s after=%s in_flight=%s: the soft time limit "
        "cut the link with calls in flight; its claim to send expires by itself, after them, "
        "and its retry goes on from the cursor then",
        c.cursor.account_id,
        c.run_id,
        c.cursor.last_exported_id,
        in_flight,
    )


def _swap(c: Claim, as_read: claim.Held) -> bool:
    """Compare-and-swap: the cursor still at its position, run and claim as read → the claim
    is this link's until `seconds` from now."""
    cursor, started = c.cursor, time.monotonic()
    expires_at = timezone.now() + timedelta(seconds=c.seconds)
    taken = fixed_sql.update(
        ExportCursor,
        {"link_id": c.token.link_id, "link_try": c.token.link_try, "claim_expires_at": expires_at},
        {
            "id": cursor.id,
            "run_id": c.run_id,
            "last_exported_id": cursor.last_exported_id,
            "link_id": as_read.link_id,
            "link_try": as_read.link_try,
            "claim_expires_at": as_read.expires_at,
        },
    )
    if not taken:
        return False
    cursor.link_id, cursor.link_try = c.token.link_id, c.token.link_try
    cursor.claim_expires_at = expires_at
    c.renewed(started)
    return True


def _not_taken(
    verdict: claim.Verdict,
    now_held: claim.Held,
    account_id: int,
    run_id: int,
    after_id: int,
    now: datetime,
) -> Stopped | Wait:
    """Another link holds the claim (stale: nothing sent, nothing moved), or this link's own
    copy may (look again when it expires)."""
    if verdict is claim.Verdict.WAIT and now_held.expires_at is not None:
        seconds = max((now_held.expires_at - now).total_seconds(), 0.0) + SAFETY_S
        log.info(
            "export.batch.wait account=%s run=%s after=%s holder=%s try=%s seconds=%.1f",
            account_id,
            run_id,
            after_id,
            now_held.link_id,
            now_held.link_try,
            seconds,
        )
        return Wait(seconds)
    log.warning(
        "export.batch.stale account=%s run=%s after=%s holder=%s try=%s: another link holds "
        "the claim to send (or a later try of this one); nothing sent, the cursor stays",
        account_id,
        run_id,
        after_id,
        now_held.link_id,
        now_held.link_try,
    )
    return Stopped(STALE)
