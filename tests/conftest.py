"""Shared fixtures. Real services only: the sandbox over HTTPS, Redis, a Celery worker."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

pytest_plugins = [
    "tests.alert_fixtures",
    "tests.celery_fixtures",
    "tests.pipeline_fixtures",
    "tests.sandbox_fixtures",
    "tests.web_server",
]


@pytest.fixture(autouse=True, scope="session")
def static_files_without_collectstatic() -> Iterator[None]:
    """The in-process test client renders admin pages without a `collectstatic` run: plain
    static file names instead of the manifest's hashed ones. The browser tests use the real
    thing (tests/web_server.py: collectstatic, then gunicorn with WhiteNoise)."""
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}):
        yield


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str | None = None,
) -> Any:
    """Poll until `predicate()` is truthy; fail with a clear message at the deadline, naming
    what it waited for: `what`, else the predicate's name."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            awaited = what or getattr(predicate, "__name__", predicate)
            pytest.fail(f"condition not met within {timeout}s: {awaited}")
        time.sleep(interval)


def lock_waiters() -> int:
    """PostgreSQL: how many sessions of the test database are waiting for a lock now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


def account_constraints(table: str) -> list[str]:
    """The foreign key constraints of `table`'s account_id column in the database."""
    from django.db import connection

    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return [n for n, c in found.items() if c["foreign_key"] and c["columns"] == ["account_id"]]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` run only when the database is PostgreSQL (make test's 2nd pass)."""
    from django.conf import settings

    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return
    skip = pytest.mark.skip(reason="PostgreSQL only: runs in make test's PostgreSQL pass")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def broker(tmp_path: Any) -> Iterator[Any]:
    """A Redis server of the test's own (tests/hosts.py): the broker on db 0, a shared
    cache on db 1."""
    from tests.chaos.processes import RedisServer

    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
