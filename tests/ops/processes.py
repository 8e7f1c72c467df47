"""The Procfile's processes, started for real by the ops tests.

`start_procfile_process("worker", env, log_dir)` runs the Procfile's own `worker` line
with `sh -c` (as honcho does), in a session of its own, logging to a file;
`stop()` sends SIGTERM to the whole group and SIGKILL if it lingers. `stack_env()` gives
such processes the test's database (pytest-django's, committed rows only: tests use
`transaction=True`), the shared Redis (db 15) and a Celery queue of their own.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import wait_for
from tests.services import REDIS_HOST, REDIS_PORT

REPO = Path(__file__).resolve().parents[2]
BROKER_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/15"
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")  # honcho's own pattern


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_command(name: str) -> str:
    """The command of process `name` in the repository's Procfile."""
    for line in (REPO / "Procfile").read_text().splitlines():
        match = PROCFILE_LINE.match(line)
        if match and match.group(1) == name:
            return match.group(2)
    pytest.fail(f"the Procfile has no {name!r} process")


def database_url() -> str:
    """The test database (after pytest-django created it) as a DATABASE_URL."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def stack_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of the stack's processes: the test database, Redis db 15, a new queue."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "FLOWER_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(REPO),
        DJANGO_SETTINGS_MODULE="tests.ops.celery_settings",
        CRMSYNC_TEST_QUEUE=f"crmsync-ops-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=BROKER_URL,
        CRMSYNC_VAR_DIR=str(var_dir),
        CRMSYNC_WORKER_CONCURRENCY="1",
        CRMSYNC_LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


class ProcfileProcess:
    """One Procfile process (plus extra arguments), logging to `<log_dir>/<name>.log`."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, extra_args: str = "") -> None:
        self.name = name
        self.command = f"{procfile_command(name)} {extra_args}".strip()
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ProcfileProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["sh", "-c", self.command],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        def logged() -> bool:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"{self.name} exited early; its log ({self.log_path}):\n{self.tail()}")
            return text in self.log()

        logged.__name__ = f"{self.name} logs {text!r} (log: {self.log_path})"
        wait_for(logged, timeout)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the process group (warm shutdown); SIGKILL after 15 s."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass
