"""What the sandbox org has seen: data requests in flight (and their cap), logins.

Salesforce refuses a request that would exceed the org's concurrent long-running
requests with HTTP 403 `REQUEST_LIMIT_EXCEEDED` "ConcurrentPerOrgLongTxn Limit exceeded."
The sandbox counts every data request from its arrival to its answer (latency, stalls and
server time included) and refuses one that arrives while `faults.max_concurrent_requests`
are in flight (0: no cap). It keeps the peak, so a test can prove a client's cap held:

1. `enter(cap)` on arrival: over the cap → refused (counted, not in flight); else in flight
   and the peak raised if need be.
2. `leave()` when the answer is ready.
3. `snapshot()` for `GET /sandbox/stats`; `reset()` (`DELETE /sandbox/stats`) starts the
   peak again from the requests in flight now.

Logins (token requests answered 200) are counted too, for benchmarks of token reuse, and
records deleted for good (committed: a rolled-back delete is not counted).
"""

from __future__ import annotations

import threading


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._peak = 0
        self._refused = 0
        self._logins = 0
        self._deleted = 0

    def enter(self, cap: int) -> bool:
        """A data request arrives: True if it may run (now in flight), False if refused."""
        with self._lock:
            if cap and self._in_flight >= cap:
                self._refused += 1
                return False
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def count_login(self) -> None:
        with self._lock:
            self._logins += 1

    def count_deleted(self, records: int) -> None:
        with self._lock:
            self._deleted += records

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests_in_flight": self._in_flight,
                "peak_concurrent_requests": self._peak,
                "refused_concurrent_requests": self._refused,
                "logins": self._logins,
                "records_deleted": self._deleted,
            }

    def reset(self) -> dict[str, int]:
        """Start counting again: the peak from the requests in flight now, the rest from 0."""
        with self._lock:
            self._peak = self._in_flight
            self._refused = 0
            self._logins = 0
            self._deleted = 0
        return self.snapshot()
