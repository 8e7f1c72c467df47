"""`cpu_ms_per_record` adds up over one Apex transaction; past `faults.cpu_limit_ms` every
record fails with the CPU limit error and nothing is written. The time spent comes back as
response delay times `faults.server_time_scale`, without blocking other connections."""

from __future__ import annotations

import threading
import time

from tests.conftest import wait_for

URI = "composite/sobjects/Contact/ExtId__c"
API = "/services/data/v59.0"
CPU_ERROR = {
    "statusCode": "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
    "message": "ContactTrigger: System.LimitException: Apex CPU time limit exceeded",
    "fields": [],
}


def cpu_rules(ms_per_record: float, **faults) -> dict:
    return {
        "objects": {"Contact": {"cpu_ms_per_record": ms_per_record}},
        "faults": {"server_time_scale": 0, **faults},
    }


def contacts(count: int, prefix: str = "c") -> list[dict]:
    return [
        {"attributes": {"type": "Contact"}, "ExtId__c": f"{prefix}{i}", "LastName": f"N{i}"}
        for i in range(count)
    ]


def subrequest(reference_id: str, records: list[dict]) -> dict:
    return {
        "method": "PATCH",
        "url": f"{API}/{URI}",
        "referenceId": reference_id,
        "body": {"allOrNone": False, "records": records},
    }


def test_a_request_past_the_limit_fails_every_record_and_writes_nothing(sandbox):
    sandbox.set_rules(cpu_rules(60))  # 200 x 60 ms = 12,000 ms > 10,000 ms
    sf = sandbox.salesforce()

    results = sf.restful(URI, method="PATCH", json={"records": contacts(200)})

    assert all(
        r == {"id": None, "success": False, "errors": [CPU_ERROR], "created": False}
        for r in results
    )
    assert sandbox.writes() == []


def test_a_request_within_the_limit_goes_through(sandbox):
    sandbox.set_rules(cpu_rules(60))  # 150 x 60 ms = 9,000 ms

    results = sandbox.salesforce().restful(URI, method="PATCH", json={"records": contacts(150)})

    assert all(r["success"] for r in results)


def test_the_limit_is_a_fault_setting(sandbox):
    sandbox.set_rules(cpu_rules(4, cpu_limit_ms=500))  # 200 x 4 ms = 800 ms > 500 ms
    sf = sandbox.salesforce()

    (first, *_) = sf.restful(URI, method="PATCH", json={"records": contacts(200)})
    sandbox.set_faults(cpu_limit_ms=1000)
    (second, *_) = sf.restful(URI, method="PATCH", json={"records": contacts(200)})

    assert first["errors"] == [CPU_ERROR]
    assert second["success"] is True


def two_batches(sandbox, all_or_none: bool) -> list[dict]:
    """A Composite of two 200-record Collections subrequests."""
    subrequests = [
        subrequest("first", contacts(200, "a")),
        subrequest("second", contacts(200, "b")),
    ]
    body = {"allOrNone": all_or_none, "compositeRequest": subrequests}
    return sandbox.salesforce().restful("composite", method="POST", json=body)["compositeResponse"]


def test_an_all_or_none_composite_is_one_transaction(sandbox):
    sandbox.set_rules(cpu_rules(30))  # 2 x 200 x 30 ms = 12,000 ms together, 6,000 alone

    items = two_batches(sandbox, all_or_none=True)

    assert items[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert items[1]["httpStatusCode"] == 200
    assert all(r["errors"] == [CPU_ERROR] for r in items[1]["body"])
    assert sandbox.writes() == []


def test_without_all_or_none_each_subrequest_is_its_own_transaction(sandbox):
    sandbox.set_rules(cpu_rules(30))

    items = two_batches(sandbox, all_or_none=False)

    assert all(r["success"] for item in items for r in item["body"])
    assert len(sandbox.writes()) == 400


def test_cpu_time_is_answered_late_by_server_time_scale(sandbox):
    sandbox.set_rules(cpu_rules(2, server_time_scale=1.5))  # 100 x 2 ms x 1.5 = 300 ms
    sf = sandbox.salesforce()

    began = time.monotonic()
    sf.restful(URI, method="PATCH", json={"records": contacts(100)})
    slow = time.monotonic() - began
    sandbox.set_rules(cpu_rules(40, server_time_scale=0))  # 100 x 40 ms, answered at once
    began = time.monotonic()
    sf.restful(URI, method="PATCH", json={"records": contacts(100)})
    instant = time.monotonic() - began

    assert slow >= 0.3
    assert instant < 2.0


def test_a_failed_transaction_takes_the_limit_not_more(sandbox):
    # 200 x 10 ms = 2,000 ms used, limit 200 ms: answered after 200 ms x 2.
    sandbox.set_rules(cpu_rules(10, cpu_limit_ms=200, server_time_scale=2))
    sf = sandbox.salesforce()

    began = time.monotonic()
    (result, *_) = sf.restful(URI, method="PATCH", json={"records": contacts(200)})
    elapsed = time.monotonic() - began

    assert result["errors"] == [CPU_ERROR]
    assert 0.4 <= elapsed < 3.0


def test_other_connections_are_served_while_a_call_spends_its_time(sandbox):
    sandbox.set_rules(cpu_rules(10, server_time_scale=3))  # 100 x 10 ms x 3 = 3 s
    slow_client, other_client = sandbox.salesforce(), sandbox.salesforce()
    slow = threading.Thread(
        target=slow_client.restful,
        args=(URI,),
        kwargs={"method": "PATCH", "json": {"records": contacts(100, "slow")}},
    )
    slow.start()
    try:
        # Its records are written before it sleeps; reading the log takes the store lock.
        wait_for(lambda: len(sandbox.writes()) == 100, timeout=10, what="slow call's writes")
        (fast,) = other_client.restful(
            "composite/sobjects/Account/ExtId__c",
            method="PATCH",
            json={"records": [{"attributes": {"type": "Account"}, "ExtId__c": "x", "Name": "X"}]},
        )
        assert fast["success"] is True
        assert slow.is_alive(), "the slow call answered before the other connection was served"
    finally:
        slow.join(timeout=15)
