"""Injected faults and the daily API counter, shared by all request threads.

Every counter ("fail the next N requests", "lock the next N rows", "stall the next N
requests", "after N more") is consumed under one lock, so N concurrent requests consume
exactly N.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sandbox.rules import FaultValue

DEFAULTS: dict[str, FaultValue] = {
    "fail_next": 0,
    "fail_status": 503,
    "lock_rows_next": 0,
    "lock_wrapped": False,
    "cpu_limit_ms": 10_000,
    "server_time_scale": 1.0,
    "stall_next": 0,
    "stall_ms": 0,
    "stall_after": 0,  # data requests that go through unstalled before `stall_next` counts
    "api_daily_limit": 100_000,
    "max_concurrent_requests": 0,  # data requests in flight at once; 0: no cap (stats.py)
}


@dataclass(frozen=True)
class ApiCharge:
    allowed: bool
    used: int
    limit: int


class Faults:
    """Current fault settings (see rules.FAULT_RANGES) plus the API usage counter."""

    def __init__(self, default_latency_ms: int = 0) -> None:
        self._lock = threading.Lock()
        self._default_latency_ms = default_latency_ms
        self._values: dict[str, FaultValue] = {}
        self._api_used = 0
        self.replace({})

    def replace(self, given: dict[str, FaultValue]) -> None:
        """Reset every fault to its default, then apply `given` (already validated)."""
        with self._lock:
            self._values = {**DEFAULTS, "latency_ms": self._default_latency_ms, **given}

    def update(self, given: dict[str, FaultValue]) -> None:
        """Change only the faults in `given` (already validated)."""
        with self._lock:
            self._values.update(given)

    def snapshot(self) -> dict[str, FaultValue]:
        with self._lock:
            return dict(self._values)

    def _count(self, name: str) -> int:
        """An integer fault (rules.FAULT_RANGES: parsed as an int, so int() only types it)."""
        return int(self._values[name])

    def latency_ms(self) -> int:
        return self._count("latency_ms")

    def cpu_limit_ms(self) -> int:
        return self._count("cpu_limit_ms")

    def max_concurrent_requests(self) -> int:
        return self._count("max_concurrent_requests")

    def server_time_scale(self) -> float:
        return float(self._values["server_time_scale"])

    def take_stall_ms(self) -> int:
        """Consume one stalled request; return how long to stall (0: no stall). While
        stalls are waiting, the first `stall_after` requests go through (counted down)."""
        with self._lock:
            if self._count("stall_next") <= 0:
                return 0
            if self._count("stall_after") > 0:
                self._values["stall_after"] = self._count("stall_after") - 1
                return 0
            self._values["stall_next"] = self._count("stall_next") - 1
            return self._count("stall_ms")

    def take_failure(self) -> int | None:
        """Consume one failing request; return the HTTP status to answer, or None."""
        with self._lock:
            if self._count("fail_next") <= 0:
                return None
            self._values["fail_next"] = self._count("fail_next") - 1
            return self._count("fail_status")

    def take_locked_rows(self, wanted: int) -> tuple[int, bool]:
        """Consume up to `wanted` locked rows; return how many of them are locked and
        whether they fail wrapped in a trigger's error (`lock_wrapped`)."""
        with self._lock:
            locked = min(wanted, max(self._count("lock_rows_next"), 0))
            self._values["lock_rows_next"] = self._count("lock_rows_next") - locked
            return locked, bool(self._values["lock_wrapped"])

    def charge_api_call(self) -> ApiCharge:
        """Count one API call unless the daily limit is already reached."""
        with self._lock:
            limit = self._count("api_daily_limit")
            if self._api_used >= limit:
                return ApiCharge(allowed=False, used=self._api_used, limit=limit)
            self._api_used += 1
            return ApiCharge(allowed=True, used=self._api_used, limit=limit)

    def api_usage(self) -> tuple[int, int]:
        with self._lock:
            return self._api_used, self._count("api_daily_limit")

    def reset_api_usage(self) -> None:
        with self._lock:
            self._api_used = 0
