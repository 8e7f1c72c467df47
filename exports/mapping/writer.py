"""A backfill's writer: each chunk's records, captured keys and progress are committed in a
thread of its own (its own database connection) while the backfill reads and plans the
next chunk, so PostgreSQL's writes overlap Python's work.

At most one chunk is in flight: before handing over chunk N+1 the backfill waits for chunk
N's commit, and it plans N+1 against N's state (`capture.known`'s `pending`), whether its
read of the captured keys comes before or after N commits. A writer's error is raised in
the backfill when it hands over the next chunk or finishes; the chunk that failed rolled
back with its progress, so the backfill run again starts after the last chunk committed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for

from django.db import connections


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
        if self._pool is None:
            return
        if self._future is not None:
            wait_for([self._future])
            self._future = None
        try:
            self._pool.submit(connections.close_all).result()
        finally:
            self._pool.shutdown(wait=True)


def _nothing() -> None:
    return None
