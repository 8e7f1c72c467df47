"""The shared cache is only a saving: an entry that cannot be read, or a Redis that does not
answer, is a miss (the worker logs in itself), told once at WARNING; the export goes on."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet
from django.core.cache import cache
from django.test import override_settings

from accounts.models import CRMSettings
from crmsync.settings import cache_config
from salesforce import shared
from salesforce.client import Gateway
from tests.processes import free_port
from tests.salesforce.conftest import contacts

pytestmark = pytest.mark.integration


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def export_one(crm: CRMSettings, ext_id: str) -> bool:
    gateway = Gateway(crm)
    types = gateway.field_types("Contact")
    results = gateway.upsert_collection("Contact", "ExtId__c", contacts(ext_id), True)
    return bool(types) and all(r.ok for r in results)


@pytest.fixture
def cache_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's view of the cache's health starts fresh and is put back after."""
    monkeypatch.setattr(shared, "_down_until", 0.0)
    monkeypatch.setattr(shared, "_down_warned", False)


@pytest.mark.parametrize("garbled", ["not a pickle", "a token no key opens"])
def test_a_garbled_token_entry_is_a_miss(
    crm: CRMSettings, sandbox: Any, redis_cache, caplog: pytest.LogCaptureFixture, garbled: str
) -> None:
    key = Gateway(crm)._login.cache_key()
    if garbled == "not a pickle":
        client = redis.Redis.from_url(redis_cache.url)
        client.set(cache.make_key(key), b"\x80\x05garbage")
        client.close()
    else:
        cache.set(key, Fernet(Fernet.generate_key()).encrypt(b'{"access_token": "x"}').decode())
    caplog.set_level(logging.INFO, logger="salesforce")

    assert export_one(crm, "p-1")

    assert len(warnings_of(caplog)) == 1, warnings_of(caplog)
    assert sum("Logged in" in r.getMessage() for r in caplog.records) == 1
    assert shared.read_token(key) is not None  # replaced by the new login's token


@pytest.mark.usefixtures("cache_state")
def test_a_redis_that_is_down_is_a_miss(
    crm: CRMSettings, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    caplog.set_level(logging.INFO, logger="salesforce")

    with override_settings(CACHES={"default": cache_config(closed)}):
        assert export_one(crm, "p-1")
        assert export_one(crm, "p-2")

    warned = warnings_of(caplog)
    assert len(warned) == 1 and "does not answer" in warned[0], warned
    assert sum("Logged in" in r.getMessage() for r in caplog.records) == 2  # one per worker
