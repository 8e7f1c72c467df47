"""Settings of the worker, beat and Flower processes that the ops tests start.

The project's own settings, with one change: the Celery queue is the test's own
(CRMSYNC_TEST_QUEUE), so no other worker on the machine's shared Redis takes these
tests' tasks and these processes take no one else's.
"""

from __future__ import annotations

import os

from crmsync.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ["CRMSYNC_TEST_QUEUE"]
