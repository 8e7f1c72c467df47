"""Where a run's time goes, timed from the outside (bench/worker.py with BENCH_TIMERS=1).

crmsync's code is not changed for this: `install()` wraps the functions named in TIMED
(and in BENCH_TIMED_EXTRA, comma-separated, for a series of its own) (module attribute or class method, looked up by name; a name that no longer exists is
reported as missing, not an error) with a timer that adds the call's wall time and count
to this process's totals, in whichever thread the call runs (the HTTP thread's calls
too). With Celery's task signals it also notes, per run:

- `delivery`: from the driver's send of `run_export` (its task id, stamped by the driver
  in `<stats key>:sent`) to the task starting in this worker;
- the `run_export` and `export_batch` tasks' own time;
- `handover`: from `run_export` ending to the run's first `export_batch` starting (the
  first link's trip through the broker), and from one link to the next.

`flush()` adds the totals to the Redis hash `<stats key>:timers` (`<name>:us`,
`<name>:n`) after each task; the driver reads and deletes it (`read`).
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
from collections import defaultdict
from contextlib import ExitStack
from typing import Any

# What a run calls, by name (module:function or module:Class.method). After a refactor,
# rename them here; names not found are listed in the report.
TIMED = (
    "exports.run.runs:start_run",
    "exports.run.runs:load_settings",
    "exports.run.runs:_adopt_or_create_run",
    "exports.run.runs:_take_lease",
    "exports.run.overlap:log_in_ahead",
    "exports.run.link:_open_link",
    "exports.run.runs:settings_now",
    "exports.run.link:_start_call",
    "exports.run.payload:load_call",
    "exports.run.link:_read_ahead",
    "exports.run.link:_answer",
    "exports.run.link:_apply",
    "exports.run.runs:finish_run",
    "exports.run.call:send",
    "exports.alerts.evaluate:after_run",
    "salesforce.client:reusable_gateway",
    "salesforce.client:Gateway.__init__",
    "salesforce.client:Gateway._client",
    "salesforce.login:Login.token",
    "salesforce.client:Gateway._describe",
    "salesforce.client:Gateway._rest",
)


class Totals:
    """Wall time (µs) and count per name, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.us: dict[str, int] = defaultdict(int)
        self.n: dict[str, int] = defaultdict(int)

    def add(self, name: str, seconds: float, count: int = 1) -> None:
        with self.lock:
            self.us[name] += int(seconds * 1e6)
            self.n[name] += count

    def take(self) -> dict[str, int]:
        with self.lock:
            out = {f"{k}:us": v for k, v in self.us.items()}
            out.update({f"{k}:n": v for k, v in self.n.items()})
            self.us.clear()
            self.n.clear()
        return out


TOTALS = Totals()


def _timed(name: str, function: Any) -> Any:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TOTALS.add(name, time.perf_counter() - began)

    return wrapper


def install(extra: tuple[str, ...] = ()) -> list[str]:
    """Wrap every TIMED name (and each of `extra`) that exists; return the names that do
    not."""
    missing = []
    for target in dict.fromkeys((*TIMED, *extra)):
        module_name, _, path = target.partition(":")
        owner: Any = importlib.import_module(module_name)
        *parents, attribute = path.split(".")
        try:
            for parent in parents:
                owner = getattr(owner, parent)
            function = getattr(owner, attribute)
        except AttributeError:
            missing.append(target)
            continue
        setattr(owner, attribute, _timed(path, function))
    return missing


class RunEvents:
    """Per-run task events (one worker process): delivery, task times, hand-overs, and the
    SQL queries each task sends (`sql:<task>`, counted with Django's execute_wrapper)."""

    def __init__(self, redis: Any, key: str) -> None:
        self.redis = redis
        self.key = key
        self.ended: dict[Any, float] = {}  # run id -> wall time its last task ended
        self.started = 0.0
        self.queries = 0
        self.stack = ExitStack()

    def _count(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries += 1
        return execute(sql, params, many, context)

    def task_started(self, name: str, task_id: str, run_id: Any) -> None:
        now = time.time()
        if name == "run_export":
            sent = self.redis.hget(f"{self.key}:sent", task_id)
            if sent is not None:
                TOTALS.add("delivery", now - float(sent))
        elif run_id in self.ended:
            TOTALS.add("handover", now - self.ended.pop(run_id))
        from django.db import connection

        self.queries = 0
        self.stack.enter_context(connection.execute_wrapper(self._count))
        self.started = time.perf_counter()

    def task_ended(self, name: str, run_id: Any) -> None:
        TOTALS.add(f"task:{name}", time.perf_counter() - self.started)
        self.stack.close()
        TOTALS.add(f"sql:{name}", 0.0, self.queries)
        if run_id is not None:
            self.ended[run_id] = time.time()
        self.flush()

    def flush(self) -> None:
        totals = TOTALS.take()
        if totals:
            with self.redis.pipeline() as pipe:
                for name, value in totals.items():
                    pipe.hincrby(f"{self.key}:timers", name, value)
                pipe.execute()


def read(redis: Any, key: str) -> dict[str, dict[str, float]]:
    """The totals the workers flushed, {name: {"ms": total, "n": count}}; then deleted."""
    raw = {k.decode(): int(v) for k, v in redis.hgetall(f"{key}:timers").items()}
    redis.delete(f"{key}:timers", f"{key}:sent")
    names = {k.rsplit(":", 1)[0] for k in raw}
    return {
        name: {"ms": raw.get(f"{name}:us", 0) / 1000, "n": raw.get(f"{name}:n", 0)}
        for name in sorted(names)
    }
