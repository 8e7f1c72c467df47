"""A worker process moves what it loaded at startup out of the garbage collector's sight
and collects its youngest generation less often, and its threads hand the interpreter over
sooner (crmsync.celery.freeze_startup_objects),
for the solo and threads pools and for prefork children."""

from __future__ import annotations

import gc
import sys

import pytest
from celery.signals import worker_process_init, worker_ready

import crmsync.celery  # (connects the signal handlers)


@pytest.mark.parametrize("signal", [worker_ready, worker_process_init])
def test_worker_start_freezes_what_is_loaded(signal):
    gc.unfreeze()
    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])  # Python's default (a worker started earlier raised it)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # Python's default
    assert gc.get_freeze_count() == 0
    try:
        signal.send(sender=None)
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == (crmsync.celery.YOUNG_COLLECTION_EVERY, *before[1:])
        assert crmsync.celery.YOUNG_COLLECTION_EVERY > 700
        assert sys.getswitchinterval() == pytest.approx(crmsync.celery.SWITCH_INTERVAL_S)
        assert crmsync.celery.SWITCH_INTERVAL_S < 0.005
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        sys.setswitchinterval(switch)
