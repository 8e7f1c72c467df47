"""A shared describe is signed (HMAC with a key derived from CRMSYNC_ENCRYPTION_KEYS) for
the key it is stored under: a describe written by anyone else, changed in Redis, or moved
from another account is a miss (one WARNING; the describe is read from the org again), so
a poisoned entry cannot change type checks or how external ids compare."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.cache import cache

from accounts.models import CRMSettings
from salesforce.client import Gateway
from tests.factories import CRMSettingsFactory
from tests.salesforce.raw_redis import fresh_cache_health, read_raw, write_raw

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _fresh_cache_health(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_cache_health(monkeypatch)


POISONED = {
    "LastName": {"type": "double", "caseSensitive": None},
    "ExtId__c": {"type": "string", "caseSensitive": True},
}


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def assert_the_orgs_describe(gateway: Gateway) -> None:
    assert gateway.field_types("Contact")["LastName"] == "string"
    assert gateway.external_id_case_sensitive("Contact", "ExtId__c") is False


def test_a_describe_written_by_someone_else_is_a_miss(
    crm: CRMSettings, sandbox: Any, redis_cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = Gateway(crm)
    cache.set(gateway._describe_key("Contact"), POISONED, 600)  # the cache's own format
    caplog.set_level(logging.INFO, logger="salesforce")

    assert_the_orgs_describe(gateway)

    assert len(warnings_of(caplog)) == 1, warnings_of(caplog)


def test_a_signed_describe_changed_in_redis_is_a_miss(
    crm: CRMSettings, sandbox: Any, redis_cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = Gateway(crm)._describe_key("Contact")
    assert_the_orgs_describe(Gateway(crm))  # stores the signed describe
    stored = read_raw(redis_cache, key)
    assert stored is not None and b"string" in stored
    write_raw(redis_cache, key, stored.replace(b"string", b"double", 1))
    caplog.set_level(logging.INFO, logger="salesforce")

    assert_the_orgs_describe(Gateway(crm))

    assert len(warnings_of(caplog)) == 1, warnings_of(caplog)


def test_a_describe_moved_from_another_account_is_a_miss(
    crm: CRMSettings, sandbox: Any, redis_cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first = Gateway(crm)
    assert_the_orgs_describe(first)
    other = Gateway(
        CRMSettingsFactory(
            login_url=crm.login_url,
            ca_bundle=crm.ca_bundle,
            auth_flow=crm.auth_flow,
            client_id=crm.client_id,
            client_secret="s3cret",
        )
    )
    stored = read_raw(redis_cache, first._describe_key("Contact"))
    write_raw(redis_cache, other._describe_key("Contact"), stored)
    caplog.set_level(logging.INFO, logger="salesforce")

    assert_the_orgs_describe(other)

    assert len(warnings_of(caplog)) == 1, warnings_of(caplog)
