"""Real processes for the chaos suite: a private Redis, Celery workers and beats.

Each chaos scenario runs the product as it runs in production: `celery worker` (prefork,
concurrency 1, so soft time limits work) and `celery beat` processes, started with
subprocess against a Redis server of the suite's own and the test's PostgreSQL database.
The suite's Redis is private (its own port and directory) so that restarting it, which
empties it, never touches another test run's queues on the machine's shared Redis.
Processes run in their own session: `kill_hard()` is `kill -9` of the whole process
group, as when a machine or container dies.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll(predicate: Callable[[], object], timeout: float, what: str) -> object:
    """Poll `predicate` every 50 ms until it is truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s")
        time.sleep(0.05)


class RedisServer:
    """A redis-server of the suite's own: no persistence, like the machine's (DESIGN §8)."""

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
        poll(self.answers, 10, f"private redis-server on port {self.port} to answer")
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


class CeleryProcess:
    """One `celery worker` or `celery beat` process, logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped = False  # stopped on purpose: a supervisor leaves it down
        self.crashes = 0

    def start(self) -> CeleryProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [CELERY, "-A", "crmsync", *self.args],
                cwd=REPO,
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
        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"{self.name} exited early; its log ({self.log_path}):\n{self.tail()}")
            return text in self.log()

        poll(seen, timeout, f"{self.name} to log {text!r} (log: {self.log_path})")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_hard(self) -> None:
        """`kill -9` of the process group: the worker and its pool children die at once."""
        self.stopped = True
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM); kill -9 if it does not exit within 15 s."""
        self.stopped = True
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
