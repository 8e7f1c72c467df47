"""Neither the client secret nor the access token reaches a log, at any level."""

from __future__ import annotations

import logging

import pytest

from salesforce.client import Gateway
from tests.salesforce.conftest import contacts, shared_token


def test_login_refresh_and_upsert_log_no_secret(
    gateway: Gateway, sandbox: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    gateway.upsert_collection("Contact", "ExtId__c", contacts("a"), True)
    sandbox.expire_tokens()
    gateway.upsert_collection("Contact", "ExtId__c", contacts("b"), True)

    token = shared_token(gateway)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Logged in to Salesforce" in logged
    assert "s3cret" not in logged
    assert token not in logged
