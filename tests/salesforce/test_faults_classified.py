"""Each sandbox fault reaches the caller in its class: transient faults never look permanent."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import CRMSettings
from salesforce.client import Gateway, TransientError
from salesforce.login_hosts import parse_extra_hosts
from tests.salesforce.conftest import contacts


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(gateway: Gateway, sandbox: Any, status: int) -> None:
    gateway.check_connection()
    sandbox.set_faults(fail_next=1, fail_status=status)

    with pytest.raises(TransientError) as caught:
        gateway.upsert_collection("Contact", "ExtId__c", contacts("a"), True)

    assert not caught.value.permanent
    assert str(status) in caught.value.message
    assert sandbox.writes() == []


def test_locked_rows_are_transient_per_record(gateway: Gateway, sandbox: Any) -> None:
    sandbox.set_faults(lock_rows_next=1)

    results = gateway.upsert_collection("Contact", "ExtId__c", contacts("a", "b", "c"), False)

    locked = [r for r in results if not r.ok]
    assert len(locked) == 1
    assert locked[0].error_code == "UNABLE_TO_LOCK_ROW"
    assert locked[0].transient and not locked[0].rolled_back
    assert len(sandbox.writes()) == 2


def test_a_locked_row_in_all_or_none_rolls_back_the_rest(gateway: Gateway, sandbox: Any) -> None:
    sandbox.set_faults(lock_rows_next=1)

    results = gateway.upsert_collection("Contact", "ExtId__c", contacts("a", "b"), True)

    assert sorted((r.transient, r.rolled_back) for r in results) == [(False, True), (True, False)]
    assert sandbox.writes() == []


def test_a_stall_longer_than_the_timeout_is_transient(crm: CRMSettings, sandbox: Any) -> None:
    crm.timeout_seconds = 0.5
    crm.save()
    gateway = Gateway(crm)
    gateway.check_connection()
    sandbox.set_faults(stall_next=1, stall_ms=3000)

    with pytest.raises(TransientError, match=r"did not answer within 0\.5s") as caught:
        gateway.upsert_collection("Contact", "ExtId__c", contacts("a"), True)

    assert caught.value.code == "TIMEOUT"


def test_daily_api_limit_is_transient(gateway: Gateway, sandbox: Any) -> None:
    gateway.check_connection()
    sandbox.set_faults(api_daily_limit=0)

    with pytest.raises(TransientError) as caught:
        gateway.upsert_collection("Contact", "ExtId__c", contacts("a"), True)

    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert sandbox.writes() == []


def test_refused_connection_is_transient(crm: CRMSettings, settings: Any) -> None:
    # An allowed login host (CRMSYNC_EXTRA_LOGIN_HOSTS) where nothing listens.
    settings.CRMSYNC_EXTRA_LOGIN_HOSTS = parse_extra_hosts("127.0.0.1:9")  # the discard port
    crm.login_url = "https://127.0.0.1:9"
    crm.client_secret = "s3cret"  # a new login URL forgets the stored secrets
    crm.save()

    with pytest.raises(TransientError, match="Could not reach") as caught:
        Gateway(crm).check_connection()

    assert caught.value.code == "CONNECTION"
