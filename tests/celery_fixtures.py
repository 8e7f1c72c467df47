"""A real Celery worker on the real Redis broker, on queues of this test session's own.

At import (before any test sends a task) the Celery app is pointed at Redis when it
is reachable; pipeline tests then take the `celery_worker` fixture, which starts a
worker thread consuming those queues: the export queue (and its links queue) and the
notifications queue, so alerts are delivered as the Procfile's `notifier` delivers them.
Without Redis the app stays on the embedded broker and the integration tests skip loudly
(or fail under CI=true).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from crmsync.celery import app, links_queue
from tests.services import REDIS_HOST, REDIS_PORT, port_open, require_redis

TEST_REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/15"
TEST_QUEUE = f"crmsync-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
TEST_NOTIFICATIONS_QUEUE = f"{TEST_QUEUE}.notifications"

# The worker here is a thread of the test process: let Celery close its database connection
# after each task (settings.CELERY_DB_REUSE_MAX off), or PostgreSQL cannot drop the test
# database at the end while that thread's connection is still open.
app.conf.CELERY_DB_REUSE_MAX = None

if port_open(REDIS_HOST, REDIS_PORT):
    app.conf.broker_url = TEST_REDIS_URL
    app.conf.task_default_queue = TEST_QUEUE
    app.conf.task_routes = {"exports.tasks.send_notification": {"queue": TEST_NOTIFICATIONS_QUEUE}}
    # Short visibility timeout is harmless here: nothing in tests waits that long.
    app.conf.broker_transport_options = {"visibility_timeout": 3600}


@pytest.fixture(scope="session")
def celery_worker_session() -> Iterator[object]:
    require_redis()
    from celery.contrib.testing.worker import start_worker

    queues = [TEST_QUEUE, TEST_NOTIFICATIONS_QUEUE]  # what the worker and the notifier take
    with app.connection_for_write() as conn:
        for queue in (*queues, links_queue(TEST_QUEUE)):
            conn.default_channel.queue_purge(queue)
    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=queues, shutdown_timeout=30
    ) as worker:
        yield worker
    with app.connection_for_write() as conn:
        for queue in (*queues, links_queue(TEST_QUEUE)):
            conn.default_channel.queue_delete(queue)


@pytest.fixture
def celery_worker(celery_worker_session: object, transactional_db: None) -> object:
    """A worker thread on Redis; tests using it see committed rows (transactional_db)."""
    return celery_worker_session
