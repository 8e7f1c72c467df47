"""Per-org call slots: at most CRMSYNC_ORG_CONCURRENCY requests in flight to one org at a
time, counted across every worker process on every host.

Salesforce allows 25 concurrent long-running requests per org and refuses more with
REQUEST_LIMIT_EXCEEDED; several accounts may point at the same org. The idea:

1. An org is the instance URL its login answered plus the connected app's client id
   (`org_key`, hashed: neither appears in a cache key; no secret is part of it).
2. Org K has `cap` numbered slots in the Django cache (Redis, shared by every worker):
   `org-slot:K:0` .. `org-slot:K:<cap-1>`. A request takes a free one with `cache.add`
   (Redis's SET NX EX: of two takers exactly one wins), trying a random one first (one
   round trip while the org is not busy), then reading them all and trying the free ones
   (`slot_keys`, `shared.claim_free`).
3. It holds the slot while the request is in flight and deletes it afterwards if the
   slot is still its own (`held`; on Redis one atomic compare-and-delete).
4. Every slot taken: the request waits, polling the slots every 50-150 ms (jittered), up
   to CRMSYNC_ORG_SLOT_WAIT_S; none freed → TransientError, and the link retries with
   backoff like any transient fault.
5. A slot a killed worker never deleted expires by itself: the account's request timeout
   plus a margin (`slot_expiry`).
6. The cache unreachable: this request goes without a slot (`shared`: one WARNING per
   outage, the cache left alone for a few seconds); a cache outage never fails a run.
7. The HTTP thread of a worker (`exports.run.overlap`) keeps its slot between the back-to-back
   calls of a link (`keep_slots_in_this_thread`): the next request to the same org goes
   out on it without a round trip to the cache (two per call otherwise: 6 % of a call at
   0 ms latency). It is let go when the task ends (`let_go`), when this thread's next
   request is to another org, or when it was taken KEEP_AT_MOST_S ago (a request sent on
   it still ends before it expires). A kept slot is still a slot: every request in flight
   holds one, so the cap holds as before.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from salesforce import shared
from salesforce.errors import TransientError

SLOT_MARGIN_S = 30  # a slot outlives its request's timeout by this much, then expires
POLL_MIN_S, POLL_MAX_S = 0.05, 0.15
KEEP_AT_MOST_S = SLOT_MARGIN_S / 2  # a kept slot is used for new requests this long


@dataclass(frozen=True)
class Org:
    """One org's slots: its key, where it is (for messages), its cap and timings."""

    key: str
    instance_url: str
    cap: int  # 0: no cap
    expiry_s: int
    wait_s: float


def org_for(instance_url: str, client_id: str, timeout_seconds: float) -> Org:
    """The org a logged-in account calls, with the cap and wait of the settings."""
    return Org(
        key=org_key(instance_url, client_id),
        instance_url=instance_url,
        cap=settings.CRMSYNC_ORG_CONCURRENCY,
        expiry_s=slot_expiry(timeout_seconds),
        wait_s=settings.CRMSYNC_ORG_SLOT_WAIT_S,
    )


# -- decisions ---------------------------------------------------------------------------


def org_key(instance_url: str, client_id: str) -> str:
    """The same org: the same instance (origin) and the same connected app."""
    return hashlib.sha256(f"{instance_url.rstrip('/')}\n{client_id}".encode()).hexdigest()[:24]


def slot_keys(key: str, cap: int, start: int) -> list[str]:
    """The org's slot keys in the order to try them: from slot `start` on, round."""
    return [f"org-slot:{key}:{(start + i) % cap}" for i in range(cap)]


def slot_expiry(timeout_seconds: float) -> int:
    """Whole seconds (Redis's EX) a slot is kept at most: longer than its request can last."""
    return math.ceil(timeout_seconds) + SLOT_MARGIN_S


def poll_interval(rng: random.Random) -> float:
    """How long to wait before looking at the slots again (jittered: waiters spread out)."""
    return rng.uniform(POLL_MIN_S, POLL_MAX_S)


def over_cap(org: Org) -> TransientError:
    return TransientError(
        f"{org.cap} calls to the org at {org.instance_url} are already in flight "
        f"(CRMSYNC_ORG_CONCURRENCY={org.cap}) and none ended within {org.wait_s:g}s; "
        "this call is retried later.",
        "ORG_CONCURRENCY",
    )


# -- the cache ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kept:
    """A slot this thread holds between requests: its org, key, holder and when taken."""

    org_key: str
    slot: str
    holder: int
    taken_at: float

    def fresh_for(self, org: Org) -> bool:
        """Is it `org`'s, and young enough that a request sent on it ends before it expires
        (it expires the request timeout plus SLOT_MARGIN_S after it was taken)?"""
        return self.org_key == org.key and time.monotonic() - self.taken_at < KEEP_AT_MOST_S


_thread = threading.local()  # .keeps: this thread keeps its slot; .kept: the _Kept or None


def keep_slots_in_this_thread() -> None:
    """From now on this thread keeps its slot between requests (the worker's HTTP thread:
    a link's calls follow each other within milliseconds); `let_go` frees it."""
    _thread.keeps = True
    _thread.kept = None


def let_go() -> None:
    """Free the slot this thread kept, if any (a task ended: no call of its link follows)."""
    kept, _thread.kept = getattr(_thread, "kept", None), None
    if kept is not None:
        shared.release(kept.slot, kept.holder)


@contextmanager
def held(org: Org) -> Iterator[None]:
    """Hold one of the org's slots for the block (a request in flight).

    1. No cap (0): go at once.
    2. This thread kept a fresh slot of this org: use it. Else let a kept one go, then
       take a free slot; all taken: poll until one frees or `wait_s` passes, then raise
       the TransientError of `over_cap`.
    3. The cache is down: go without a slot (`shared` logs one WARNING per outage).
    4. After the block, free the slot if it is still ours; a thread that keeps slots keeps
       it instead (unless the block failed, or it already keeps another).
    """
    if org.cap <= 0:
        yield
        return
    kept: _Kept | None = getattr(_thread, "kept", None)
    slot: str | None  # None: the cache is down, no slot
    if kept is not None and kept.fresh_for(org):
        _thread.kept = None  # in use now
        slot, holder, taken_at = kept.slot, kept.holder, kept.taken_at
    else:
        let_go()
        holder = random.getrandbits(62)  # an integer: Redis stores it as its digits
        slot, taken_at = _wait_for_slot(org, holder), time.monotonic()
    try:
        yield
    except BaseException:
        if slot:
            shared.release(slot, holder)
        raise
    if not slot:
        return
    if getattr(_thread, "keeps", False) and getattr(_thread, "kept", None) is None:
        _thread.kept = _Kept(org.key, slot, holder, taken_at)
    else:
        shared.release(slot, holder)


def _wait_for_slot(org: Org, holder: int) -> str | None:
    """Take a free slot, polling; None when the cache is down (no cap for this call)."""
    rng = random.Random()
    deadline = time.monotonic() + org.wait_s
    while True:
        keys = slot_keys(org.key, org.cap, rng.randrange(org.cap))
        slot = shared.claim_free(keys, holder, org.expiry_s)
        if slot is None or slot:
            return slot
        left = deadline - time.monotonic()
        if left <= 0:
            raise over_cap(org)
        time.sleep(min(poll_interval(rng), left))
