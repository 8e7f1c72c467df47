"""A Celery worker process for the benchmark: the real worker, plus counters.

    python bench/worker.py            (environment from bench/run.py: DATABASE_URL,
                                        CELERY_BROKER_URL, BENCH_QUEUE, BENCH_STATS_KEY)

It is `celery worker` on the bench queue (`-P solo`, or BENCH_POOL / BENCH_CONCURRENCY:
the fleet series runs the Procfile's pool, e.g. `-P threads --concurrency 32`), with two
signal handlers that count,
for every link of a run (its `run_export`, which makes the first, and each `export_batch`
task after it), the calls it made
(`exports.run.call.send`, counted by a wrapper), the SQL queries it sent (Django's
execute_wrapper), the time it took, and the gap since this process's previous link of the
same run (the Celery hand-over of the next link). Counters go to a Redis hash per run,
`<BENCH_STATS_KEY>:<run id>`, after each link, with the wall-clock time of the first call
of this process's first link of the run (`first_call_at_us:<pid>`).

BENCH_COUNTERS=0 turns the counters off. With BENCH_TIMERS=1 it also times the functions a run calls and the hand-overs between
its tasks (bench/timers.py), for the per-run cost breakdown of `--series tenants`, and
the functions named in BENCH_TIMED_EXTRA too (`--series deletes`: the delete path).
"""

from __future__ import annotations

import os
import sys
import threading
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
from exports.run import call, overlap  # noqa: E402

BATCH_TASK = "exports.tasks.export_batch"
# The tasks that make a link's calls: a run's first link is made by its `run_export`.
LINK_TASKS = {BATCH_TASK, "exports.tasks.run_export"}
STATS = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
STATS_KEY = os.environ["BENCH_STATS_KEY"]


class BatchCounter:
    """Queries and time of the export_batch task running now in one task thread (the solo
    pool's only one, or one of the threads pool's)."""

    def __init__(self) -> None:
        self.calls = 0
        self.queries = 0
        self.started = 0.0
        self.run_id: Any = None
        self.first_call_at: float | None = None
        self.last: tuple[Any, float] | None = None  # (run id, end) of the previous link
        self.stack = ExitStack()

    def count(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries += 1
        return execute(sql, params, many, context)

    def start(self, run_id: Any) -> None:
        self.calls = 0
        self.queries = 0
        self.run_id = run_id
        self.first_call_at = None
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
        if self.last is not None and self.last[0] == self.run_id:
            stats["gap_us"] = int(1e6 * (self.started - self.last[1]))
            stats["gaps"] = 1
        self.last = (self.run_id, ended)
        key = f"{STATS_KEY}:{self.run_id}"
        with STATS.pipeline() as pipe:
            for name, value in stats.items():
                pipe.hincrby(key, name, value)
            if self.first_call_at is not None:  # kept only for this process's first link
                pipe.hsetnx(key, f"first_call_at_us:{os.getpid()}", int(1e6 * self.first_call_at))
            pipe.execute()


_threads = threading.local()  # a task thread's counter; its HTTP thread's (`bound`)


def counter() -> BatchCounter:
    """This task thread's counter."""
    found = getattr(_threads, "counter", None)
    if found is None:
        found = _threads.counter = BatchCounter()
    return found


def _bind(found: BatchCounter) -> None:
    _threads.bound = found  # runs in the task thread's own HTTP thread (exports.run.overlap)


_send = call.send


def _counted_send(*args: Any, **kwargs: Any) -> Any:
    found = getattr(_threads, "bound", None)  # in the HTTP thread, one call at a time
    if found is not None:
        found.calls += 1
        if found.first_call_at is None:
            found.first_call_at = time.time()
    return _send(*args, **kwargs)


call.send = _counted_send  # looked up at each call (exports.run.overlap.send_call)

EVENTS = None
if os.environ.get("BENCH_TIMERS") == "1":
    from bench import timers  # noqa: E402

    missing = timers.install(
        tuple(filter(None, os.environ.get("BENCH_TIMED_EXTRA", "").split(",")))
    )
    if missing:
        print(f"bench timers: not found (renamed?): {', '.join(missing)}", file=sys.stderr)
    EVENTS = timers.RunEvents(STATS, STATS_KEY)


def _run_id(task: Any, args: Any, kwargs: Any, retval: Any = None) -> Any:
    if task.name == BATCH_TASK:
        return args[1] if len(args) > 1 else (kwargs or {}).get("run_id")
    return retval.get("run_id") if isinstance(retval, dict) else None


# BENCH_COUNTERS=0: no counters either (the per-run cost's untimed passes: what the product
# costs, without the bench's Redis writes and query counting).
COUNTING = os.environ.get("BENCH_COUNTERS") != "0"


@task_prerun.connect
def _before(
    task: Any = None, task_id: str = "", args: Any = (), kwargs: Any = None, **_: Any
) -> None:
    if task is not None and task.name in LINK_TASKS and COUNTING:
        found = counter()
        found.start(_run_id(task, args, kwargs))  # run_export's: known when it returns
        if not getattr(_threads, "bound_http", False):  # once per task thread, before any call
            overlap.http().submit(_bind, found).result()
            _threads.bound_http = True
    if task is not None and EVENTS is not None:
        EVENTS.task_started(task.name.rsplit(".", 1)[-1], task_id, _run_id(task, args, kwargs))


@task_postrun.connect
def _after(
    task: Any = None, args: Any = (), kwargs: Any = None, retval: Any = None, **_: Any
) -> None:
    if task is not None and task.name in LINK_TASKS and COUNTING:
        found = counter()
        if found.run_id is None:
            found.run_id = _run_id(task, args, kwargs, retval)
        found.stop()
    if task is not None and EVENTS is not None:
        EVENTS.task_ended(task.name.rsplit(".", 1)[-1], _run_id(task, args, kwargs, retval))


if __name__ == "__main__":
    app.conf.task_default_queue = os.environ["BENCH_QUEUE"]
    app.worker_main(
        [
            "worker",
            f"--pool={os.environ.get('BENCH_POOL', 'solo')}",
            f"--concurrency={os.environ.get('BENCH_CONCURRENCY', '1')}",
            f"--queues={os.environ['BENCH_QUEUE']}",
            f"--hostname=bench{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ]
    )
