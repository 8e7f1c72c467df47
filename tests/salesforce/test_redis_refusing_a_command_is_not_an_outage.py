"""Redis refusing one command (an error answer such as WRONGTYPE, or an expiry it does not
accept) is an error of that call, not an outage of the cache: that call is a miss, told at
WARNING, and every other account still shares its token, describes and org slots."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from accounts.models import CRMSettings
from salesforce import shared
from salesforce.client import Gateway
from tests.factories import CRMSettingsFactory
from tests.salesforce.conftest import contacts
from tests.salesforce.raw_redis import fresh_cache_health, full_key

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _fresh_cache_health(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_cache_health(monkeypatch)


def export_one(crm: CRMSettings, ext_id: str) -> bool:
    return Gateway(crm).upsert_collection("Contact", "ExtId__c", contacts(ext_id), True)[0].ok


def test_a_refused_command_is_a_miss_of_that_call_only(
    crm: CRMSettings, sandbox: Any, redis_cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    other = CRMSettingsFactory(
        login_url=crm.login_url,
        ca_bundle=crm.ca_bundle,
        auth_flow=crm.auth_flow,
        client_id=crm.client_id,
        client_secret="s3cret",
    )
    assert export_one(other, "o-1")  # its token is shared now
    client = redis.Redis.from_url(redis_cache.url)
    client.rpush(full_key(Gateway(crm)._login.cache_key()), "not a string")  # GET: WRONGTYPE
    client.close()
    logins = sandbox.stats()["logins"]
    caplog.set_level(logging.INFO, logger="salesforce")

    assert export_one(crm, "p-1")  # its token entry refused: it logs in itself
    assert export_one(other, "o-2")  # the cache still answers: the shared token

    assert sandbox.stats()["logins"] == logins + 1
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and "WRONGTYPE" in warned[0], warned
    assert shared.read_token(Gateway(crm)._login.cache_key()) is not None
