"""Real processes for the chaos suite: a private Redis, a private PostgreSQL, Celery
workers and beats.

Each chaos scenario runs the product as it runs in production: `celery worker` (prefork,
concurrency 1, so soft time limits work) and `celery beat` processes (`tests.processes`),
against a Redis server of the suite's own and the test's PostgreSQL database.
The suite's Redis is private (its own port and directory) so that restarting it, which
empties it, never touches another test run's queues on the machine's shared Redis. A
scenario that restarts its database does the same with a PostgreSQL server of its own
(`PostgresServer`): a test suite never restarts a service it did not start.
Processes run in their own session: `kill_hard()` is `kill -9` of the whole process
group, as when a machine or container dies.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
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


class PostgresServer:
    """A PostgreSQL server of the test's own: `initdb` into a temporary directory, a free
    port on 127.0.0.1, trust authentication for the `postgres` user, no fsync (its data is
    thrown away). As root it runs as the `postgres` system user, since PostgreSQL refuses
    to run as root; the directory is under the system's temporary directory, which that
    user can reach (pytest's own are private to root)."""

    user = "postgres"
    database = "crmsync"

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="crmsync-test-postgres-"))
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self.run_as = self.user if os.geteuid() == 0 else None
        if self.run_as is not None:
            shutil.chown(self.directory, self.run_as)

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [str(self.bin / program), *args],
            user=self.run_as,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"{program} {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}\nserver log ({self.log_path}):\n{self.log_tail()}"
            )

    def start(self) -> PostgresServer:
        """Create the cluster and the database the first time, then start the server and
        wait until it accepts connections (`pg_ctl -w`)."""
        first = not self.data.exists()
        if first:
            self._run(
                "initdb", "-D", str(self.data), "-U", self.user, "--auth=trust",
                "-E", "UTF8", "--locale=C",
            )  # fmt: skip
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "start"
        )
        if first:
            self._run(
                "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database
            )
        return self

    def restart(self) -> None:
        """Restart in fast mode: every connection is cut, as when a database server restarts."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-m", "fast", "-w", "restart"
        )  # fmt: skip

    def stop(self) -> None:
        """Stop at once and delete the data directory."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's programs (initdb and pg_ctl are not on PATH on
    Debian and Ubuntu)."""

    def version(initdb: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in initdb.parent.parent.name.split(".") if part.isdigit())

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        pytest.fail("initdb is not installed; this test needs PostgreSQL's server programs")
    return Path(initdb).parent


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
