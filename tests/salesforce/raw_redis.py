"""The shared cache's entries as anyone with access to Redis sees and writes them: raw bytes
under the full key (Django's prefix and version included), no serializer in between."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.core.cache import cache

from salesforce import shared


def full_key(key: str) -> str:
    """crmsync's key as stored in Redis (KEY_PREFIX and version added by Django)."""
    return cache.make_key(key)


def read_raw(server: Any, key: str) -> bytes | None:
    client = redis.Redis.from_url(server.url)
    try:
        return client.get(full_key(key))
    finally:
        client.close()


def write_raw(server: Any, key: str, value: bytes) -> None:
    client = redis.Redis.from_url(server.url)
    try:
        client.set(full_key(key), value)
    finally:
        client.close()


def fresh_cache_health(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's view of the cache's health starts fresh and is put back after (a
    test that left the cache marked down would make the next one's cache a miss)."""
    monkeypatch.setattr(shared, "_down_until", 0.0)
    monkeypatch.setattr(shared, "_down_warned", False)
