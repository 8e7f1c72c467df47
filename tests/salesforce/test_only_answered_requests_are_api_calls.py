"""The gateway counts an API call only when the org answered the request: a refusal (503)
is a call, a request that timed out or never connected is not (the run's `api_calls`)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import CRMSettings
from salesforce.client import Gateway, TransientError
from tests.salesforce.conftest import contacts


@pytest.fixture
def logged_in(crm: CRMSettings) -> Gateway:
    crm.timeout_seconds = 0.5
    crm.save()
    gateway = Gateway(crm)
    gateway.check_connection()
    gateway.api_calls = 0
    return gateway


def test_an_answered_refusal_is_an_api_call(logged_in: Gateway, sandbox: Any) -> None:
    sandbox.set_faults(fail_next=1, fail_status=503)

    with pytest.raises(TransientError):
        logged_in.upsert_collection("Contact", "ExtId__c", contacts("a"), True)

    assert logged_in.api_calls == 1


def test_a_request_without_an_answer_is_not(logged_in: Gateway, sandbox: Any) -> None:
    sandbox.set_faults(stall_next=1, stall_ms=3000)

    with pytest.raises(TransientError, match="did not answer"):
        logged_in.upsert_collection("Contact", "ExtId__c", contacts("a"), True)

    assert logged_in.api_calls == 0
    logged_in.upsert_collection("Contact", "ExtId__c", contacts("b"), True)
    assert logged_in.api_calls == 1
