"""The one thread that writes the sandbox's SQLite database.

Request threads hand it jobs in the order their writes were applied in memory; it
runs them in that order, one transaction per job, or one for all the jobs already
waiting when it falls behind (group commit). SQLite does its work without
the GIL, so the commit of one batch overlaps with answering it and with parsing the
next one. `flush()` waits until everything queued is committed: readers call it
first, so they always see every acknowledged write.

Durability: a write is acknowledged once it is applied in memory and queued; it is
in SQLite a few milliseconds later. `stop()` (SandboxOrg.stop, SIGINT/SIGTERM of
`sandbox_org`) commits everything queued; only a hard kill (SIGKILL, power loss) can
lose the last acknowledged writes.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("sandbox")

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    n INTEGER PRIMARY KEY,
    sobject TEXT NOT NULL,
    sf_id TEXT NOT NULL UNIQUE,
    fields TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recycle_bin (
    n INTEGER PRIMARY KEY,
    sobject TEXT NOT NULL,
    sf_id TEXT NOT NULL UNIQUE,
    fields TEXT NOT NULL,
    deleted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY,
    sobject TEXT NOT NULL,
    external_id_field TEXT NOT NULL,
    external_id TEXT,
    sf_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    fields TEXT NOT NULL,
    at TEXT NOT NULL,
    op TEXT NOT NULL DEFAULT 'upsert'
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    username TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

Job = Callable[[sqlite3.Connection], object]  # what a job returns is not used


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode with WAL, synchronous=NORMAL and a busy timeout."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(SCHEMA)
    _add_op_column(db)
    return db


def _add_op_column(db: sqlite3.Connection) -> None:
    """A data dir from before deletes has a write log of upserts only: add `op` to it."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(writes)")}
    if "op" not in columns:
        db.execute("ALTER TABLE writes ADD COLUMN op TEXT NOT NULL DEFAULT 'upsert'")


class Writer:
    def __init__(self, path: Path, backlog: int = 32) -> None:
        self._db = connect(path)
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=backlog)
        self.failure: BaseException | None = None
        self._stopped = False
        self._submit_lock = threading.Lock()  # no job may follow the stop sentinel
        self._thread = threading.Thread(target=self._run, name="sandbox-sqlite-writer", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise if an earlier commit failed: the database no longer matches what was acked."""
        if self.failure is not None:
            raise RuntimeError(
                f"the sandbox's SQLite writer failed earlier ({self.failure}); see the log above,"
                " then restart the sandbox"
            )

    def submit(self, job: Job) -> None:
        """Queue `job` to run in its own transaction (blocks while the backlog is full)."""
        self.check()
        with self._submit_lock:
            if self._stopped:
                raise RuntimeError("the sandbox is stopping; the write was not made")
            self._jobs.put(job)

    def flush(self) -> None:
        """Wait until every queued job is committed."""
        self._jobs.join()

    def stop(self) -> None:
        """Commit what is queued, then end the thread and close the connection."""
        with self._submit_lock:
            self._stopped = True
            self._jobs.put(None)
        self._thread.join()
        self._db.close()

    def _run(self) -> None:
        """Take the next job and any already waiting (up to the backlog), commit them together."""
        while True:
            jobs = [self._jobs.get()]
            while jobs[-1] is not None and len(jobs) < self._jobs.maxsize:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit([job for job in jobs if job is not None])
            finally:
                for _ in jobs:
                    self._jobs.task_done()
            if jobs[-1] is None:
                return

    def _commit(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for job in jobs:
                job(self._db)
            self._db.execute("COMMIT")
        except BaseException as exc:  # a failed commit must not kill the thread silently
            log.exception("sandbox: writing to SQLite failed; later writes will be refused")
            self.failure = exc
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
