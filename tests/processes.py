"""Processes the integration suites start for real (Celery workers, beat, Flower).

`LoggedProcess` runs one command in a session of its own, logging stdout and stderr to
`<log_dir>/<name>.log`. `stop()` is a warm shutdown: SIGTERM to the whole process group,
and `kill_hard()` (SIGKILL to the group, as when a machine dies) if it lingers 15 s.
A suite says what to run by overriding `argv()`: tests/ops runs the Procfile's lines,
tests/chaos runs `celery` with its own arguments. `running(...)` starts processes and
always stops them; `database_url()` hands a child process the test's database.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import pytest
from django.db import connection

from tests.conftest import wait_for

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database (after pytest-django created it) as a DATABASE_URL."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class LoggedProcess:
    """One process, run from the repository in a session of its own, logging to a file."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.cwd = REPO  # its working directory (a test of several hosts gives each its own)
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Self:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv(),
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        """Wait until the log holds `text`; fail at once, with the log, if the process exits."""

        def logged() -> bool:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"{self.name} exited early; its log ({self.log_path}):\n{self.tail()}")
            return text in self.log()

        wait_for(logged, timeout, what=f"{self.name} logs {text!r} (log: {self.log_path})")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_hard(self) -> None:
        """`kill -9` of the process group: the process and its children die at once."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM to the process group); `kill_hard()` after 15 s."""
        if not self.alive:
            return
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill_hard()
        except ProcessLookupError:
            pass


@contextmanager
def running(*processes: LoggedProcess) -> Iterator[None]:
    """Start `processes` in order; on the way out, whatever happened, stop them in reverse."""
    try:
        for process in processes:
            process.start()
        yield
    finally:
        for process in reversed(processes):
            process.stop()
