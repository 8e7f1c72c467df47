"""The token is cached per account; an expired one is replaced once, transparently."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import CRMSettings
from salesforce.client import AuthError, Gateway
from tests.salesforce.conftest import CONTACT_RULES, contacts


def test_expired_token_is_refreshed_transparently(gateway: Gateway, sandbox: Any) -> None:
    gateway.upsert_collection("Contact", "ExtId__c", contacts("p-1"), all_or_none=True)
    sandbox.expire_tokens()

    results = gateway.upsert_collection("Contact", "ExtId__c", contacts("p-2"), True)

    assert [r.ok for r in results] == [True]
    # the refused call and its repetition are both REST calls; the logins are not
    assert gateway.api_calls == 3


def test_a_second_gateway_reuses_the_cached_token(crm: CRMSettings, sandbox: Any) -> None:
    Gateway(crm).upsert_collection("Contact", "ExtId__c", contacts("p-1"), True)
    # From now on a login with these settings would fail: only the cached token can work.
    sandbox.set_rules({**CONTACT_RULES, "auth": {"clients": {"crmsync": "rotated"}}})

    results = Gateway(crm).upsert_collection("Contact", "ExtId__c", contacts("p-2"), True)

    assert [r.ok for r in results] == [True]


def test_refresh_that_cannot_log_in_is_an_auth_error(crm: CRMSettings, sandbox: Any) -> None:
    gateway = Gateway(crm)
    gateway.upsert_collection("Contact", "ExtId__c", contacts("p-1"), True)
    sandbox.set_rules({**CONTACT_RULES, "auth": {"clients": {"crmsync": "rotated"}}})
    sandbox.expire_tokens()

    with pytest.raises(AuthError, match="login"):
        gateway.upsert_collection("Contact", "ExtId__c", contacts("p-2"), True)


def test_changed_settings_do_not_use_the_old_token(crm: CRMSettings, sandbox: Any) -> None:
    Gateway(crm).upsert_collection("Contact", "ExtId__c", contacts("p-1"), True)
    crm.client_secret = "wrong"
    crm.save()

    with pytest.raises(AuthError):
        Gateway(crm).upsert_collection("Contact", "ExtId__c", contacts("p-2"), True)
