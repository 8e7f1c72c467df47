"""Gateway fixtures: an account whose CRM settings point at the running sandbox org."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import override_settings

from accounts.models import CRMSettings
from crmsync.settings import cache_config
from salesforce import shared
from salesforce.client import Gateway
from tests.chaos.processes import RedisServer
from tests.factories import CRMSettingsFactory

CONTACT_RULES: dict[str, Any] = {
    "auth": {"clients": {"sandbox": "sandbox", "crmsync": "s3cret"}},
    "objects": {
        "Contact": {
            "fields": ["LastName", "Email", "Type__c", "ExtId__c"],
            "required": ["LastName"],
            "validation": [
                {
                    "name": "Email_Required_For_Customers",
                    "when": {"field": "Type__c", "equals": "Customer"},
                    "require": "Email",
                    "message": "Customers need an email",
                }
            ],
        }
    },
}


@pytest.fixture
def crm(db: None, sandbox: Any) -> CRMSettings:
    """Settings of an account logging in to a fresh sandbox org with client credentials."""
    cache.clear()
    sandbox.set_rules(CONTACT_RULES)
    return CRMSettingsFactory(
        login_url=sandbox.url,
        ca_bundle=str(sandbox.ca_path),
        auth_flow="client_credentials",
        client_id="crmsync",
        client_secret="s3cret",
        timeout_seconds=5.0,
    )


@pytest.fixture
def redis_cache(tmp_path: Path) -> Iterator[RedisServer]:
    """The Django cache on a Redis server of the test's own, as every worker shares it
    (CRMSYNC_CACHE_URL=redis://...)."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        with override_settings(CACHES={"default": cache_config(server.url)}):
            yield server
    finally:
        server.stop()


@pytest.fixture
def gateway(crm: CRMSettings) -> Gateway:
    return Gateway(crm)


def contacts(*ext_ids: str, **extra: Any) -> list[dict[str, Any]]:
    """Valid Contact field maps, one per external id, including the external id field."""
    return [{"ExtId__c": ext_id, "LastName": f"Person {ext_id}", **extra} for ext_id in ext_ids]


def shared_token(gateway: Gateway) -> str:
    """The access token every worker shares for the gateway's account (decrypted)."""
    token = shared.read_token(gateway._login.cache_key())
    assert token is not None, "no token in the shared cache"
    return token["access_token"]
