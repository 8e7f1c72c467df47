"""What every worker shares through the Django cache: Salesforce tokens and describes, and
the per-org call slots' entries (`org_slots`).

With CRMSYNC_CACHE_URL on Redis (the default when the broker is Redis) every worker process
on every host reads and writes the same entries; with locmem:// each process has its own.
Nothing else in the gateway touches `django.core.cache`.

1. An entry is data, never code: JSON (salesforce/cache_entries.py), so whoever can write to
   the cache's Redis cannot make a worker run anything. What `put` writes is signed for
   its key (HMAC-SHA256, `salesforce.crypto.sign`: a key derived from CRMSYNC_ENCRYPTION_KEYS);
   an entry that does not parse (a crafted pickle included), or whose signature does not
   match its key (changed, copied from another key, written by another program), is a
   miss: one WARNING, the entry removed, the run goes on. So a poisoned describe cannot
   change type checks or how external ids compare, and a kept failure is our own words.
2. A token is a bearer secret: it is stored Fernet-encrypted (`salesforce.crypto`: the first
   key of CRMSYNC_ENCRYPTION_KEYS encrypts, any key decrypts) and signed for its key (1.),
   which names the account and its connection settings: the same bytes under another
   account's key are a miss, and the worker logs in again. An entry no key opens, or that
   is not a token, is a miss too.
3. One login (or describe) among all workers (`once`): whoever adds the account's lock key
   (SET NX with a short expiry) does it; the others poll for its result, raise the failure
   it kept for a moment, or do it themselves when the wait runs out. A lock never fails a
   run.
4. The cache is only a saving: a cache that does not answer is a miss, and a write to it
   does nothing; logged once at WARNING per outage, and not asked again for DOWN_RETRY_S,
   so a Redis that hangs costs a run one timeout, not one per request. The run goes on
   (logging in itself). Redis refusing one command (a ResponseError: WRONGTYPE, an expiry
   it does not accept, an ACL's NOPERM) is an error of that call, not an outage: that call
   is a miss, logged at WARNING, and the cache is asked again at once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError, ResponseError

from salesforce import crypto
from salesforce.cache_entries import Unreadable
from salesforce.errors import AuthError, GatewayError

log = logging.getLogger(__name__)

T = TypeVar("T")

DOWN = (RedisError, OSError)  # the cache did not answer (connection refused, timeout, ...)
REFUSED = ResponseError  # Redis answered one command with an error: that call only
SIGNED_BY = "crmsync shared cache entry"  # the label of the signing key (salesforce.crypto)
DOWN_RETRY_S = 10.0  # a cache that did not answer is left alone this long
POLL_S = 0.05  # how often a worker waiting for another's login looks for its token
FAILED_KEPT_S = 5  # a failed login is the answer of the workers waiting for it this long

# A kept failure is raised again as the first of these types it is (messages are our own
# words and Salesforce's error code, never a secret).
KEPT_FAILURES: dict[str, type[GatewayError]] = {
    "auth": AuthError,
    "gateway": GatewayError,
}

_down_until = 0.0  # this process found the cache down: a miss until then (monotonic)
_down_warned = False  # the WARNING of this outage was logged


# -- the cache, never failing ---------------------------------------------------------------


def get(key: str) -> Any:
    """What `put` stored under `key`, or None: missing, not crmsync's entry for this key
    (one WARNING; removed), refused by Redis, or the cache is down."""
    if _resting():
        return None
    try:
        stored = cache.get(key)
    except REFUSED as exc:
        _refused(exc)
        forget(key)  # WRONGTYPE: whatever is there is not ours
        return None
    except DOWN as exc:
        _went_down(exc)
        return None
    _answered()
    if stored is None:
        return None
    wrong = _not_ours(key, stored)
    if wrong:
        log.warning("An entry in the shared cache is not crmsync's (%s: %s); ignored", key, wrong)
        forget(key)
        return None
    return json.loads(stored["data"])


def put(key: str, value: Any, seconds: float) -> None:
    """Store `value` (JSON data) for `seconds`, signed for `key`; nothing when the cache is
    down."""
    data = json.dumps(value, separators=(",", ":"))
    entry = {"data": data, "mac": crypto.sign(SIGNED_BY, _signed_text(key, data))}
    _call(lambda: cache.set(key, entry, seconds), None)


def forget(key: str) -> None:
    _call(lambda: cache.delete(key), None)


def _claim(key: str, seconds: int) -> bool:
    """Add `key` if absent (Redis: SET NX EX): True if this worker holds it now. A cache that
    is down is claimed by everyone (each worker on its own, as without the cache)."""
    return bool(_call(lambda: cache.add(key, _holder(), seconds), True))


def claim_free(keys: list[str], holder: int, seconds: int) -> str | None:
    """Of `keys`, add one that is absent (SET NX EX) with `holder`: its key; "" when every
    key is taken; None when the cache is down (nobody can count: the caller goes on its
    own). One round trip when the first key is free (the usual case: `keys` start at a
    random one), else one read of them all and an add on the free ones."""

    def first_free() -> str:
        if cache.add(keys[0], holder, seconds):
            return keys[0]
        taken = cache.get_many(keys[1:])
        free = (key for key in keys[1:] if key not in taken)
        return next((key for key in free if cache.add(key, holder, seconds)), "")

    return _call(first_free, None)


# Redis: delete a key only while it holds a value (one round trip, atomic).
_DELETE_IF = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def release(key: str, holder: int) -> None:
    """Delete `key` if it still holds `holder` (it may have expired and been taken since);
    nothing when the cache is down (the entry expires by itself). On Redis one atomic
    round trip (an integer is stored as its digits, so the script compares them)."""
    backend = caches["default"]

    def delete_if_held() -> None:
        if isinstance(backend, RedisCache):
            full_key = backend.make_and_validate_key(key)
            # django-stubs leave out RedisCache._cache (its RedisCacheClient).
            client = backend._cache.get_client(full_key, write=True)  # type: ignore[attr-defined]
            client.eval(_DELETE_IF, 1, full_key, str(holder))
        elif backend.get(key) == holder:
            backend.delete(key)

    _call(delete_if_held, None)


def _not_ours(key: str, stored: Any) -> str:
    """Why `stored` is not an entry `put` wrote under `key` ("" when it is)."""
    if isinstance(stored, Unreadable):
        return stored.reason
    if not (
        isinstance(stored, dict)
        and isinstance(stored.get("data"), str)
        and isinstance(stored.get("mac"), str)
    ):
        return "not a signed entry"
    if not crypto.signed(SIGNED_BY, _signed_text(key, stored["data"]), stored["mac"]):
        return (
            "its signature does not match this key: changed, copied from another key, or "
            "written with a key no longer configured"
        )
    return ""


def _signed_text(key: str, data: str) -> bytes:
    return f"{key}\n{data}".encode()


_Result = TypeVar("_Result")
_WhenDown = TypeVar("_WhenDown")


def _call(operation: Callable[[], _Result], when_down: _WhenDown) -> _Result | _WhenDown:
    if _resting():
        return when_down
    try:
        result = operation()
    except REFUSED as exc:
        _refused(exc)
        return when_down
    except DOWN as exc:
        _went_down(exc)
        return when_down
    _answered()
    return result


def _resting() -> bool:
    return time.monotonic() < _down_until


def _went_down(exc: BaseException) -> None:
    global _down_until, _down_warned
    _down_until = time.monotonic() + DOWN_RETRY_S
    if not _down_warned:
        _down_warned = True
        log.warning(
            "The shared cache (CRMSYNC_CACHE_URL) does not answer (%s: %s); until it does, "
            "this worker logs in and reads describes on its own, and its requests go without "
            "the per-org cap (CRMSYNC_ORG_CONCURRENCY)",
            type(exc).__name__,
            exc,
        )


def _refused(exc: ResponseError) -> None:
    """Redis answered this one command with an error: a miss of this call, not an outage."""
    _answered()
    log.warning(
        "The shared cache (CRMSYNC_CACHE_URL) refused a command (%s: %s); this call goes "
        "without the cache",
        type(exc).__name__,
        exc,
    )


def _answered() -> None:
    global _down_warned
    if _down_warned:
        _down_warned = False
        log.info("The shared cache (CRMSYNC_CACHE_URL) answers again")


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# -- tokens, encrypted --------------------------------------------------------------------


def read_token(key: str) -> dict[str, str] | None:
    """The token stored under `key` (and signed for it: `get`), decrypted; None if there is
    none or it is unreadable."""
    stored = get(key)
    if stored is None:
        return None
    try:
        token = json.loads(crypto.decrypt(stored))  # (once per process: crypto)
    except (crypto.SecretDecryptionError, TypeError, AttributeError, ValueError):
        token = None
    if not _is_token(token):
        log.warning("A token in the shared cache cannot be read (no key opens it); logging in")
        forget(key)
        return None
    return token


def write_token(key: str, token: dict[str, str], seconds: float) -> None:
    put(key, crypto.encrypt(json.dumps(token)), seconds)


def _is_token(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("access_token"), str)
        and isinstance(value.get("instance_url"), str)
    )


# -- one worker does it, the others wait ----------------------------------------------------


def once(key: str, read: Callable[[], T | None], make: Callable[[], T], wait_s: float) -> T:
    """`read()`, or else `make()` in one worker of all, the others waiting for its result.

    1. What `read()` finds is the answer; a failure another worker kept (`key:failed`) is
       raised as ours.
    2. Add the lock `key:lock`, expiring after `wait_s` (rounded up, plus a second): who
       adds it looks again as in step 1 (the holder before it may just have finished, or
       kept its failure between our look and the lock's release), else runs
       `make()` (which stores what `read()` finds) and removes the lock. A permanent
       failure of `make()` is kept for FAILED_KEPT_S (the waiters raise it, nobody tries
       again at once) and raised; a transient one is raised only.
    3. The others poll every POLL_S from step 1: a lock that is gone (its holder was
       killed, its expiry passed) is added by one of them.
    4. When the wait runs out (a second after the lock's expiry), run `make()` anyway.
    """
    lock_s = math.ceil(wait_s) + 1
    deadline = time.monotonic() + lock_s + 1
    while time.monotonic() < deadline:
        found = _found(key, read)
        if found is not None:
            return found
        if _claim(f"{key}:lock", lock_s):
            try:  # the holder before may just have finished, or kept its failure
                found = _found(key, read)
                return found if found is not None else _make(key, make)
            finally:
                forget(f"{key}:lock")
        time.sleep(POLL_S)
    log.info("Waited %.0f s for another worker's answer (%s); asking myself", lock_s + 1, key)
    return make()


def _found(key: str, read: Callable[[], T | None]) -> T | None:
    found = read()
    if found is not None:
        return found
    failed = get(f"{key}:failed")
    if isinstance(failed, dict) and failed.get("kind") in KEPT_FAILURES:
        kind = KEPT_FAILURES[failed["kind"]]
        raise kind(str(failed.get("message", "")), str(failed.get("code", "")))
    return None


def _make(key: str, make: Callable[[], T]) -> T:
    """`make()`; a permanent failure (a refused login) is kept for the waiters. A transient
    one (the org answered 503, a timeout) is not: the task's retry must try again, and the
    next waiter to take the lock does."""
    try:
        return make()
    except GatewayError as exc:
        if exc.permanent:
            kind = next(name for name, type_ in KEPT_FAILURES.items() if isinstance(exc, type_))
            failed = {"kind": kind, "message": exc.message, "code": exc.code}
            put(f"{key}:failed", failed, FAILED_KEPT_S)
        raise
