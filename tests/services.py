"""Real services for integration tests: required under CI=true, skipped loudly elsewhere."""

from __future__ import annotations

import os
import socket
import warnings
from typing import NoReturn

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def missing(reason: str, *, remedy: str, what: str = "integration test") -> NoReturn:
    """Something a test needs is missing (`reason`): fail under CI=true (naming the
    `remedy`), skip with a loud warning elsewhere. Warns at the caller's caller."""
    if in_ci():
        pytest.fail(f"{reason}; CI=true requires it ({remedy})")
    warnings.warn(f"SKIPPING {what}: {reason}", stacklevel=3)
    pytest.skip(f"!!! {reason} — {what} NOT run (runs under CI=true)")


def require(service: str, host: str, port: int) -> None:
    """Fail under CI=true, skip with a loud reason elsewhere, when a service is down."""
    if port_open(host, port):
        return
    missing(f"{service} is not reachable at {host}:{port}", remedy="start it, see docs/testing.md")


def require_redis() -> None:
    require("Redis", REDIS_HOST, REDIS_PORT)


def require_postgres() -> None:
    require("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
