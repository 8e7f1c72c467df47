"""The right to send for an account: one link at a time (docs/semantics.md › One sender).

Duplicates are normal in Celery: a link requeued from Flower with the live arguments, a
message redelivered after the broker's visibility timeout while its first worker still
runs, a retry racing its original. Before its first request a link claims the right to
send with a compare-and-swap on its account's cursor (`exports.run.link`); the claim is a
fencing token, the link's Celery task id and try (`request.retries`), with an expiry
that the holder renews with every cursor move. Its requests check the claim before they
go out (`Call.send_by`), and its cursor moves check it (`exports.run.cursor_move`).

Pure decisions only: what a link may do, given the claim the cursor holds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Token:
    """Who claims: a link's Celery task id and its try (0, then 1 for the first retry...)."""

    link_id: str
    link_try: int


@dataclass(frozen=True)
class Held:
    """The claim as the cursor holds it. `expires_at` None: released (or never taken)."""

    link_id: str
    link_try: int
    expires_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at > now


class Verdict(enum.Enum):
    CLAIM = "claim"  # take the claim and send
    WAIT = "wait"  # perhaps the holder's own copy, still sending: look again when it expires
    STALE = "stale"  # a duplicate, or an earlier try: send nothing, touch nothing


def verdict(held: Held, me: Token, now: datetime) -> Verdict:
    """May link `me` take the claim `held` (its position already checked)?

    1. A later try of the same link than `me` exists → STALE: `me` was retried already.
    2. The claim is live:
       - another link's → STALE (a copy requeued while the holder sends);
       - this link's own (the same task id, at `me`'s try or an earlier one) → WAIT: `me`
         may be a redelivered copy while the holder still sends, or its worker is gone;
         only the claim's expiry tells which. A live claim is never taken over.
    3. The claim is released or expired → CLAIM. A link releases its claim with its try
       moved one on (`released`), so a copy of a link that ended is an earlier try (1.).
    """
    if held.link_id == me.link_id and me.link_try < held.link_try:
        return Verdict.STALE
    if held.live(now):
        return Verdict.WAIT if held.link_id == me.link_id else Verdict.STALE
    return Verdict.CLAIM


def released(me: Token) -> Held:
    """The claim after `me` stops sending: free, and any copy of `me` (same try) is stale;
    `me`'s retry (the next try) may take it."""
    return Held(me.link_id, me.link_try + 1, None)


def position(cursor_at: int, cursor_link_id: str, after_id: int, link_id: str) -> int | None:
    """Where a link goes on from: `after_id` if the cursor is there; the cursor if this link
    (its task id: an earlier try or copy of it) claimed it last and moved it further; None
    for a stale link (another link went on from there)."""
    if cursor_at == after_id:
        return after_id
    if link_id and cursor_link_id == link_id:
        return cursor_at
    return None


def may_end_run(held: Held, link_id: str, now: datetime) -> bool:
    """May a link that failed for good end its run? Not while another link holds a live
    claim (the run goes on with that link)."""
    return held.link_id == link_id or not held.live(now)
