"""Real processes for the chaos suite: a private Redis, Celery workers and beats.

Each chaos scenario runs the product as it runs in production: `celery worker` (prefork,
concurrency 1, so soft time limits work) and `celery beat` processes (`tests.processes`),
against a Redis server of the suite's own and the test's PostgreSQL database.
The suite's Redis is private (its own port and directory) so that restarting it, which
empties it, never touches another test run's queues on the machine's shared Redis.
Processes run in their own session: `kill_hard()` is `kill -9` of the whole process
group, as when a machine or container dies.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.processes import LoggedProcess, free_port

CELERY = str(Path(sys.executable).with_name("celery"))


class RedisServer:
    """A redis-server of the suite's own: no persistence, like the machine's."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed; the chaos suite needs it (apt-get install redis-server)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self.answers, 10, what=f"private redis-server on port {self.port} to answer")
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop at once, keeping nothing (`redis-cli shutdown nosave`): queued messages are lost."""
        if self.process is None:
            return
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "shutdown", "nosave"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def flush(self) -> None:
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "flushall"],
            capture_output=True,
            timeout=10,
            check=False,
        )


class CeleryProcess(LoggedProcess):
    """One `celery worker` or `celery beat` process, logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        super().__init__(name, env, log_dir)
        self.args = args
        self.stopped = False  # stopped on purpose: a supervisor leaves it down
        self.crashes = 0

    def argv(self) -> list[str]:
        return [CELERY, "-A", "crmsync", *self.args]

    def kill_hard(self) -> None:
        """`kill -9` of the process group: the worker and its pool children die at once."""
        self.stopped = True
        super().kill_hard()

    def stop(self) -> None:
        """Warm shutdown (SIGTERM); kill -9 if it does not exit within 15 s."""
        self.stopped = True
        super().stop()


class Supervisor:
    """Restarts processes that exit on their own, as systemd's Restart=always or a
    container orchestrator does in production; processes stopped on purpose stay down."""

    def __init__(self, processes: list[CeleryProcess], interval_s: float = 0.5) -> None:
        self.processes = processes
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="chaos-supervisor")

    def start(self) -> Supervisor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            for process in list(self.processes):
                if process.process is not None and not process.stopped and not process.alive:
                    process.crashes += 1
                    with open(process.log_path, "a") as log:
                        log.write(f"\n=== supervisor: {process.name} exited; restarting\n")
                    process.start()
