"""A token entry is bound to the key it was written under (the account and its connection
settings): the same encrypted bytes copied under another account's key, or under the key
of the account's newer settings, are a miss (one WARNING; that account logs in itself).
Accepted, they would send the account's records with another org's token."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from accounts.models import CRMSettings
from salesforce import shared
from salesforce.client import Gateway
from tests.factories import CRMSettingsFactory
from tests.salesforce.conftest import contacts, shared_token
from tests.salesforce.raw_redis import fresh_cache_health, read_raw, write_raw

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _fresh_cache_health(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_cache_health(monkeypatch)


def another_account(crm: CRMSettings) -> CRMSettings:
    return CRMSettingsFactory(
        login_url=crm.login_url,
        ca_bundle=crm.ca_bundle,
        auth_flow=crm.auth_flow,
        client_id=crm.client_id,
        client_secret="s3cret",
        timeout_seconds=crm.timeout_seconds,
    )


def newer_settings(crm: CRMSettings) -> CRMSettings:
    crm.save()  # a new updated_at: the key of its token changes
    return CRMSettings.objects.get(pk=crm.pk)


@pytest.mark.parametrize("target", [another_account, newer_settings])
def test_a_token_entry_copied_under_another_key_is_a_miss(
    crm: CRMSettings, sandbox: Any, redis_cache: Any, caplog: pytest.LogCaptureFixture, target
) -> None:
    first = Gateway(crm)
    assert first.upsert_collection("Contact", "ExtId__c", contacts("p-1"), True)[0].ok
    first_token, first_key = shared_token(first), first._login.cache_key()
    other = Gateway(target(crm))
    other_key = other._login.cache_key()
    assert other_key != first_key
    write_raw(redis_cache, other_key, read_raw(redis_cache, first_key))
    logins = sandbox.stats()["logins"]
    caplog.set_level(logging.INFO, logger="salesforce")

    assert other.upsert_collection("Contact", "ExtId__c", contacts("p-2"), True)[0].ok

    assert sandbox.stats()["logins"] == logins + 1, "the copied token was used"
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1, warned
    assert shared.read_token(other_key)["access_token"] != first_token
