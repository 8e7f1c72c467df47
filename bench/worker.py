"""A Celery worker process for the benchmark: the real worker, plus counters.

    python bench/worker.py            (environment from bench/run.py: DATABASE_URL,
                                        CELERY_BROKER_URL, BENCH_QUEUE, BENCH_STATS_KEY)

It is `celery worker -P solo` on the bench queue, with two signal handlers that count,
for every `export_batch` task (a link of a run's chain), the calls it made
(`exports.pipeline._send`, counted by a wrapper), the SQL queries it sent (Django's
execute_wrapper), the time it took, and the gap since the previous task ended (the Celery
hand-over of the next link). Counters go to a Redis hash named by BENCH_STATS_KEY after
each task, with the wall-clock time of this process's first call (`first_call_at_us:<pid>`).
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from celery.signals import task_postrun, task_prerun  # noqa: E402
from django.db import connection  # noqa: E402

from crmsync.celery import app  # noqa: E402
from exports import pipeline  # noqa: E402

BATCH_TASK = "exports.tasks.export_batch"
STATS = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
STATS_KEY = os.environ["BENCH_STATS_KEY"]


class BatchCounter:
    """Queries and time of the export_batch task running now (one at a time: solo pool)."""

    def __init__(self) -> None:
        self.calls = 0
        self.queries = 0
        self.started = 0.0
        self.last_end: float | None = None
        self.stack = ExitStack()

    def count(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries += 1
        return execute(sql, params, many, context)

    def start(self) -> None:
        self.calls = 0
        self.queries = 0
        self.started = time.perf_counter()
        self.stack.enter_context(connection.execute_wrapper(self.count))

    def stop(self) -> None:
        self.stack.close()
        ended = time.perf_counter()
        stats = {
            "links": 1,
            "calls": self.calls,
            "queries": self.queries,
            "task_us": int(1e6 * (ended - self.started)),
        }
        if self.last_end is not None:
            stats["gap_us"] = int(1e6 * (self.started - self.last_end))
            stats["gaps"] = 1
        self.last_end = ended
        with STATS.pipeline() as pipe:
            for name, value in stats.items():
                pipe.hincrby(STATS_KEY, name, value)
            if FIRST_CALL_AT:
                pipe.hsetnx(
                    STATS_KEY, f"first_call_at_us:{os.getpid()}", int(1e6 * FIRST_CALL_AT[0])
                )
            pipe.execute()


COUNTER = BatchCounter()
FIRST_CALL_AT: list[float] = []  # when this process sent its first call
_send = pipeline._send


def _counted_send(*args: Any, **kwargs: Any) -> Any:
    COUNTER.calls += 1  # in the HTTP thread, one call at a time
    if not FIRST_CALL_AT:
        FIRST_CALL_AT.append(time.time())
    return _send(*args, **kwargs)


pipeline._send = _counted_send  # looked up at each call


@task_prerun.connect
def _before(task: Any = None, **_: Any) -> None:
    if task is not None and task.name == BATCH_TASK:
        COUNTER.start()


@task_postrun.connect
def _after(task: Any = None, **_: Any) -> None:
    if task is not None and task.name == BATCH_TASK:
        COUNTER.stop()


if __name__ == "__main__":
    app.conf.task_default_queue = os.environ["BENCH_QUEUE"]
    app.worker_main(
        [
            "worker",
            "--pool=solo",
            f"--queues={os.environ['BENCH_QUEUE']}",
            f"--hostname=bench{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ]
    )
