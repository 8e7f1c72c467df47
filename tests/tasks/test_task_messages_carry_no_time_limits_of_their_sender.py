"""A task runs under the time limits of the worker that runs it (CELERY_TASK_SOFT_TIME_LIMIT
/ CELERY_TASK_TIME_LIMIT in the worker's environment), never under its sender's.

Celery copies a process's limits into every task class its app loads and stamps them into
each message the process sends (`apply_async`, `send_task` by name, a retry), and a worker
obeys a message's limits over its own. Without care, a run or re-export sent from the admin,
Flower or beat runs under that process's settings (the defaults, 600 / 660 s, when the
limits are set for the worker only), and a test's worker with a 5 s soft limit never cuts a
task the test process sent once that process had loaded the tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kombu import Connection

from crmsync.celery import app
from exports import tasks

QUEUE = "time-limits-probe"


def timelimit_sent(send: Callable[[Connection], Any]) -> Any:
    """The `timelimit` header (hard, soft) of the message `send` publishes."""
    with Connection("memory://") as conn:
        send(conn)
        message = conn.SimpleQueue(QUEUE).get(timeout=1)
        message.ack()
        return message.headers.get("timelimit")


@pytest.mark.parametrize("how", ["send_task by name", "apply_async"])
def test_a_message_carries_no_time_limit_of_its_sender(how):
    assert tasks.reexport_errors.soft_time_limit == app.conf.task_soft_time_limit  # loaded

    if how == "apply_async":
        sent = timelimit_sent(
            lambda conn: tasks.reexport_errors.apply_async((1,), connection=conn, queue=QUEUE)
        )
    else:
        sent = timelimit_sent(
            lambda conn: app.send_task(
                "exports.tasks.reexport_errors", args=[1], connection=conn, queue=QUEUE
            )
        )

    assert list(sent or (None, None)) == [None, None]


def test_a_limit_given_for_one_message_still_travels():
    sent = timelimit_sent(
        lambda conn: tasks.reexport_errors.apply_async(
            (1,), connection=conn, queue=QUEUE, soft_time_limit=30, time_limit=40
        )
    )

    assert list(sent) == [40, 30]
