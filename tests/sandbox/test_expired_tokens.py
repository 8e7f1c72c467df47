"""Bad or expired tokens answer 401 with the exact array simple-salesforce refreshes on."""

from __future__ import annotations

import time

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from tests.conftest import wait_for
from tests.sandbox_fixtures import sandbox_session

SESSION_EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_expired_tokens_answer_invalid_session_id(sandbox):
    sf = sandbox.salesforce()
    sf.query("SELECT Id FROM Contact")

    sandbox.expire_tokens()

    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Contact")
    assert caught.value.status == 401
    assert caught.value.content == SESSION_EXPIRED


def test_unknown_token_answers_invalid_session_id(sandbox):
    response = sandbox.session.get(
        f"{sandbox.url}/services/data/v59.0/limits", headers={"Authorization": "Bearer nope"}
    )

    assert response.status_code == 401
    assert response.json() == SESSION_EXPIRED


def test_token_expires_after_its_ttl(sandbox):
    sandbox.set_rules({"auth": {"token_ttl_s": 1}})
    token = sandbox.login()
    sf = Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=sandbox_session(sandbox.ca_path),
    )
    issued = time.monotonic()

    def rejected() -> bool:
        try:
            sf.limits()
        except SalesforceExpiredSession:
            return True
        return False

    wait_for(rejected, timeout=10)
    assert time.monotonic() - issued >= 0.9


def test_a_new_login_works_after_expiry(sandbox):
    sandbox.salesforce()
    sandbox.expire_tokens()

    assert sandbox.salesforce().query("SELECT Id FROM Contact")["totalSize"] == 0
