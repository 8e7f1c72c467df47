"""Requests per intake token and minute (CRMSYNC_INTAKE_RATE_PER_MINUTE), counted in the
Django cache every web process shares (CRMSYNC_CACHE_URL: Redis in production), so the
limit holds across gunicorn's workers and hosts.

1. A minute is a fixed window of the clock (12:04:00–12:04:59). Each request adds one to its
   token's count for the window (`cache.add` of 0, then `cache.incr`: Redis INCR, atomic);
   the count expires with the window.
2. Over the limit: the request is refused (429) with Retry-After, the seconds until the
   window ends (at least 1). Refused requests count too: hammering does not open it sooner.
3. The key names the token by a prefix of its stored digest, never the token itself: a new
   token starts a new count.
4. A cache that does not answer lets requests through (logged at WARNING once per
   DOWN_RETRY_S): the database and the body limits still bound what a client can do, and an
   outage of Redis does not stop the intake. With CRMSYNC_CACHE_URL=locmem:// (no Redis)
   each process counts on its own.
"""

from __future__ import annotations

import logging
import math
import time

from django.core.cache import cache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

WINDOW_S = 60
DOWN_RETRY_S = 10.0
_down_until = 0.0


def now() -> float:
    """The clock the windows follow (a test may replace it)."""
    return time.time()


def retry_after(token_digest: str, per_minute: int) -> int | None:
    """None if this request is within the limit (and counted), else the seconds until the
    client may send again. `per_minute` 0 (or less): no limit."""
    global _down_until
    if per_minute <= 0 or time.monotonic() < _down_until:
        return None
    moment = now()
    window = int(moment // WINDOW_S)
    key = f"intake:rate:{token_digest[:32]}:{window}"
    try:
        cache.add(key, 0, WINDOW_S * 2)
        count = cache.incr(key)
    except ValueError:  # the entry expired between add and incr: a new window's first
        return None
    except (RedisError, OSError) as exc:
        _down_until = time.monotonic() + DOWN_RETRY_S
        log.warning(
            "intake.rate cache_down=%s: the shared cache (CRMSYNC_CACHE_URL) does not answer; "
            "intake requests go without the rate limit for %.0f s",
            type(exc).__name__,
            DOWN_RETRY_S,
        )
        return None
    if count <= per_minute:
        return None
    return max(1, math.ceil((window + 1) * WINDOW_S - moment))
