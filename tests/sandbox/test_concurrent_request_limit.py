"""`faults.max_concurrent_requests`: one data request over the cap is refused as Salesforce
refuses it (403 REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn Limit exceeded."), changes
nothing and costs no API call; once a request in flight answers, the next one goes through."""

from __future__ import annotations

import threading

import pytest
from simple_salesforce.exceptions import SalesforceRefusedRequest

from tests.conftest import wait_for

CONCURRENT_LIMIT = [
    {"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentPerOrgLongTxn Limit exceeded."}
]
CONTACT = {"attributes": {"type": "Contact"}, "ExtId__c": "c-1", "LastName": "One"}
RECORDS = {"allOrNone": True, "records": [CONTACT]}


def test_a_request_over_the_cap_is_refused_until_one_answers(sandbox):
    slow = [sandbox.salesforce(), sandbox.salesforce()]
    sf = sandbox.salesforce()
    used_before = sf.restful("limits")["DailyApiRequests"]
    sandbox.set_faults(max_concurrent_requests=2, stall_next=2, stall_ms=3000)
    answers: list[object] = []
    threads = [
        threading.Thread(target=lambda c=client: answers.append(c.restful("limits", timeout=15)))
        for client in slow
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: sandbox.stats()["requests_in_flight"] == 2, timeout=10)

    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.restful("composite/sobjects/Contact/ExtId__c", method="PATCH", json=RECORDS)
    for thread in threads:
        thread.join(timeout=15)

    assert refused.value.status == 403
    assert refused.value.content == CONCURRENT_LIMIT
    assert sandbox.writes() == []
    assert sf.restful("limits")["DailyApiRequests"] == used_before
    assert len(answers) == 2  # the two requests in flight went through
    result = sf.restful("composite/sobjects/Contact/ExtId__c", method="PATCH", json=RECORDS)
    assert result[0]["success"] is True
    stats = sandbox.stats()
    assert (stats["peak_concurrent_requests"], stats["refused_concurrent_requests"]) == (2, 1)
