"""`GET /sandbox/stats`: the peak of data requests in flight (no cap by default) and the
logins answered; `DELETE /sandbox/stats` counts again from now."""

from __future__ import annotations

import threading

from tests.conftest import wait_for

CLIENTS = 4


def test_stats_count_the_peak_and_the_logins_then_start_again(sandbox):
    clients = [sandbox.salesforce() for _ in range(CLIENTS)]
    sandbox.set_faults(stall_next=CLIENTS, stall_ms=1500)
    answers: list[object] = []
    threads = [
        threading.Thread(target=lambda c=client: answers.append(c.restful("limits", timeout=15)))
        for client in clients
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: sandbox.stats()["requests_in_flight"] == CLIENTS, timeout=10)
    for thread in threads:
        thread.join(timeout=15)

    assert len(answers) == CLIENTS
    assert sandbox.stats() == {
        "requests_in_flight": 0,
        "peak_concurrent_requests": CLIENTS,
        "refused_concurrent_requests": 0,
        "logins": CLIENTS,
        "records_deleted": 0,
    }
    response = sandbox.session.delete(f"{sandbox.url}/sandbox/stats", timeout=15)
    assert response.json()["peak_concurrent_requests"] == 0
    assert sandbox.stats()["logins"] == 0
