"""A backfill's writer and reader: each chunk's records, captured keys and progress are
committed in a thread of its own (its own database connection) while the backfill plans
the next chunk, which another thread read ahead (its rows and captured keys), so
PostgreSQL's reads and writes overlap Python's work.

At most one chunk is in flight: before handing over chunk N+1 the backfill waits for chunk
N's commit. N+1's captured keys were read while N was planned and N-1 written, so N+1 is
planned against N-1's and N's state (`capture.overlay`'s `pending`), whether the read came
before or after they committed. A writer's error is raised in
the backfill when it hands over the next chunk or finishes; the chunk that failed rolled
back with its progress, so the backfill run again starts after the last chunk committed.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from django.db import connection, connections, transaction

from crmsync.celery import SWITCH_INTERVAL_S

T = TypeVar("T")


@contextmanager
def quick_handoffs(threaded: bool) -> Iterator[None]:
    """The reader's and the writer's threads mostly wait for PostgreSQL; when its answer
    comes each waits for the planning thread to let go of the interpreter, up to Python's
    switch interval (5 ms) a round trip, a quarter of a chunk's writing time. While the
    threads run the interval is the worker's (SWITCH_INTERVAL_S, 0.5 ms; it is the process's:
    set back after)."""
    before = sys.getswitchinterval()
    if threaded:
        sys.setswitchinterval(min(before, SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """A chunk makes tens of thousands of short-lived objects (rows, instances, records),
    freed by reference counting, yet each 700 allocations start a collection of the
    cyclic garbage collector, and each tenth of those walks every object the process
    holds (Django's included): a fifth of a backfill's time. While it runs, what the
    process held before is left out of collections (`gc.freeze`) and the youngest
    generation is collected every 50,000 allocations; set back after."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


@contextmanager
def pipelined() -> Iterator[None]:
    """PostgreSQL: the statements of a chunk's write (lock the account, insert its records,
    its captured keys, its progress) sent without waiting for each answer (psycopg's
    pipeline mode): the writer's thread waits for the interpreter once or twice a chunk,
    not once a statement, while the planning thread holds it. Enter it inside the
    transaction: an error is raised where an answer is needed, at the latest when the
    pipeline ends, and the transaction then rolls back outside it."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield  # (an error the pipeline's end raises comes as Django's, e.g. IntegrityError)


@contextmanager
def one_snapshot() -> Iterator[None]:
    """A chunk's rows and their captured keys read as of one moment (a transaction; on
    PostgreSQL, outside the caller's, REPEATABLE READ): a save that commits after the rows
    were read is not in the keys read either, so the chunk's write sees the key changed
    (`capture.write`'s check) and does not send the rows' older values after the save's."""
    outer = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def overlaps(vendor: str, in_transaction: bool) -> bool:
    """Write in a thread of its own? PostgreSQL's only (SQLite serializes writes, and a
    second connection meets its locks), and only outside a transaction: the writer's
    connection could not see the caller's uncommitted rows, nor roll back with them."""
    return vendor == "postgresql" and not in_transaction


class Writer:
    """Runs each chunk's write, one after the other, in a thread (`threaded`) or inline."""

    def __init__(self, threaded: bool) -> None:
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-writer")
            if threaded
            else None
        )
        self._future: Future[None] | None = None
        self._then: Callable[[], None] = _nothing

    def submit(self, write: Callable[[], None], then: Callable[[], None] = lambda: None) -> None:
        """Wait for the chunk in flight (raising its error), then start `write`; `then` runs
        in the caller once `write` is done."""
        self.wait()
        if self._pool is None:
            write()
            then()
            return
        self._future, self._then = self._pool.submit(write), then

    def wait(self) -> None:
        """Wait for the chunk in flight; its error is raised here."""
        future, then = self._future, self._then
        self._future, self._then = None, _nothing
        if future is not None:
            future.result()
            then()

    def close(self) -> None:
        """Let the chunk in flight finish (its error, if the caller failed first, gives way
        to the caller's), close the thread's connections and the thread."""
        _close(self._pool, self._future)
        self._future = None


class Ahead(Generic[T]):
    """Calls `step` one call ahead, in a thread of its own (`threaded`) or inline: `take`
    returns the result of the call started before (its error is raised there) and starts
    the next one, so a backfill reads chunk N+1 while it plans chunk N."""

    def __init__(self, step: Callable[[], T], threaded: bool) -> None:
        self._step = step
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-reader")
            if threaded
            else None
        )
        self._future: Future[T] | None = None

    def take(self) -> T:
        if self._pool is None:
            return self._step()
        future = self._future or self._pool.submit(self._step)
        self._future = self._pool.submit(self._step)
        return future.result()

    def close(self) -> None:
        """Let the call in flight finish, close the thread's connections and the thread."""
        _close(self._pool, self._future)
        self._future = None


def _close(pool: ThreadPoolExecutor | None, future: Future[Any] | None) -> None:
    if pool is None:
        return
    if future is not None:
        wait_for([future])
    try:
        pool.submit(connections.close_all).result()
    finally:
        pool.shutdown(wait=True)


def _nothing() -> None:
    return None
