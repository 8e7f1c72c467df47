"""What crmsync keeps in the Django cache is data: JSON, never a pickle.

Django's cache backends pickle values, and unpickling runs code: whoever can write to the
cache's Redis would run it in every worker, with every tenant's secrets. Here:

1. `JsonSerializer` (RedisCache's OPTIONS["serializer"], settings.cache_config): an int is
   stored as its digits, as Django's own serializer does (Redis's INCR and the org slots'
   compare-and-delete read them); anything else as JSON. A value that is not JSON is a
   TypeError (or ValueError) when it is written: a programming error, found at once.
2. Bytes that parse as neither (a crafted pickle, another program's entry) are read as an
   `Unreadable` value: nothing runs. `salesforce.shared` treats it as a miss (one
   WARNING), and an org slot holding one as taken.
3. `JsonLocMemCache` (CRMSYNC_CACHE_URL=locmem://) stores the same JSON, so both backends
   hold the same data: a tuple comes back as a list from either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache


@dataclass(frozen=True)
class Unreadable:
    """An entry that is not crmsync's JSON; `reason` names what failed (never its bytes)."""

    reason: str


class JsonSerializer:
    """Django RedisCache's serializer interface (`dumps`, `loads`), with JSON."""

    def dumps(self, value: Any) -> int | bytes:
        if type(value) is int:  # not bool: True is stored as JSON `true`
            return value
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()

    def loads(self, data: int | bytes) -> Any:
        if isinstance(data, int):
            return int(data)
        try:
            return int(data)
        except ValueError:
            pass
        try:
            return json.loads(data)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            return Unreadable(f"not JSON: {type(exc).__name__}")


_ABSENT = object()


class JsonLocMemCache(LocMemCache):
    """This process's memory, holding what `JsonSerializer` writes (what Redis would hold)."""

    serializer = JsonSerializer()

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return super().add(key, self.serializer.dumps(value), timeout, version)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        super().set(key, self.serializer.dumps(value), timeout, version)

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        stored = super().get(key, _ABSENT, version)
        return default if stored is _ABSENT else self.serializer.loads(stored)
