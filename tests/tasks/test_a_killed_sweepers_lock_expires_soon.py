"""kombu restores a killed worker's unacknowledged task in periodic sweeps, each under a
lock in Redis that kombu lets expire after 300 s. A worker killed in the middle of a sweep
kept that lock, and no other worker restored anything for five minutes (a chaos test
waited 120 s for a redelivery that never came). The broker's options make the lock expire
sooner; this checks that kombu's Redis channel takes them."""

from __future__ import annotations

from django.conf import settings
from kombu import Connection

from tests.services import REDIS_HOST, REDIS_PORT, require_redis


def test_the_sweeps_lock_expires_well_before_kombus_five_minutes():
    require_redis()
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    with Connection(f"redis://{REDIS_HOST}:{REDIS_PORT}/13", transport_options=options) as conn:
        channel = conn.default_channel
        assert channel.unacked_mutex_expire == settings.CRMSYNC_UNACKED_MUTEX_EXPIRE_S
        assert channel.unacked_mutex_expire <= 30 < 300
        assert channel.unacked_restore_interval == settings.CRMSYNC_UNACKED_RESTORE_INTERVAL_S
