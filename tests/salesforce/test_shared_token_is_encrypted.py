"""The token every worker shares is a bearer secret: in Redis it is Fernet-encrypted with
the first key of CRMSYNC_ENCRYPTION_KEYS, and any configured key reads it back."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet
from django.test import override_settings

from accounts.models import CRMSettings
from salesforce import shared
from salesforce.client import Gateway
from tests.salesforce.conftest import contacts, shared_token

pytestmark = pytest.mark.integration


def raw_entries(server: Any) -> dict[bytes, bytes]:
    """Every key in the Redis server and its raw value, as anyone with access reads them
    (the cache's entries are all strings)."""
    client = redis.Redis.from_url(server.url)
    try:
        return {key: client.get(key) or b"" for key in client.scan_iter()}
    finally:
        client.close()


def test_no_redis_entry_shows_the_token(crm: CRMSettings, sandbox: Any, redis_cache) -> None:
    gateway = Gateway(crm)
    gateway.upsert_collection("Contact", "ExtId__c", contacts("p-1"), True)
    gateway.field_types("Contact")

    token = shared_token(gateway)
    entries = raw_entries(redis_cache)

    assert any(b"sf-token" in key for key in entries), entries.keys()  # it is shared there
    assert not [key for key, value in entries.items() if token.encode() in key + value]


def test_a_token_written_with_an_older_key_is_read(
    crm: CRMSettings, sandbox: Any, redis_cache, settings: Any
) -> None:
    older = Fernet.generate_key().decode()
    with override_settings(CRMSYNC_ENCRYPTION_KEYS=[older]):
        Gateway(crm).upsert_collection("Contact", "ExtId__c", contacts("p-1"), True)
    before = sandbox.stats()["logins"]

    with override_settings(CRMSYNC_ENCRYPTION_KEYS=[Fernet.generate_key().decode(), older]):
        Gateway(crm).upsert_collection("Contact", "ExtId__c", contacts("p-2"), True)
        assert shared.read_token(Gateway(crm)._login.cache_key()) is not None

    assert sandbox.stats()["logins"] == before  # the shared token, read with the older key
