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
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from . import shared
from .errors import TransientError

SLOT_MARGIN_S = 30  # a slot outlives its request's timeout by this much, then expires
POLL_MIN_S, POLL_MAX_S = 0.05, 0.15


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


@contextmanager
def held(org: Org) -> Iterator[None]:
    """Hold one of the org's slots for the block (a request in flight).

    1. No cap (0): go at once.
    2. Take a free slot; all taken: poll until one frees or `wait_s` passes, then raise
       the TransientError of `over_cap`.
    3. The cache is down: go without a slot (`shared` logs one WARNING per outage).
    4. After the block, free the slot if it is still ours.
    """
    if org.cap <= 0:
        yield
        return
    holder = random.getrandbits(62)  # an integer: Redis stores it as its digits
    slot = _wait_for_slot(org, holder)
    try:
        yield
    finally:
        if slot:
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
