"""`fail_next` + `fail_status`: the next N data requests fail with a Salesforce-shaped body."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from simple_salesforce.exceptions import SalesforceError, SalesforceGeneralError

URI = "composite/sobjects/Contact/ExtId__c"
RECORDS = {"records": [{"attributes": {"type": "Contact"}, "ExtId__c": "a", "LastName": "Ames"}]}


def test_next_requests_answer_503_server_unavailable_then_recover(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(fail_next=2, fail_status=503)

    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as caught:
            sf.restful(URI, method="PATCH", json=RECORDS)
        assert caught.value.status == 503
        assert caught.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sandbox.writes() == []

    (result,) = sf.restful(URI, method="PATCH", json=RECORDS)
    assert result["success"] is True


def test_fail_status_picks_the_http_status(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(fail_next=1, fail_status=500)

    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM Contact")

    assert caught.value.status == 500
    assert caught.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"


def test_concurrent_requests_consume_the_counter_exactly(sandbox):
    sandbox.set_faults(fail_next=5, fail_status=503)
    clients = [sandbox.salesforce() for _ in range(4)]

    def call(i: int) -> int:
        try:
            clients[i % 4].query("SELECT Id FROM Contact")
        except SalesforceError as exc:
            return exc.status
        return 200

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(call, range(12)))

    assert sorted(statuses).count(503) == 5
    assert statuses.count(200) == 7
