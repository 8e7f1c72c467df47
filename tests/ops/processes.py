"""The Procfile's processes, started for real by the ops tests.

`ProcfileProcess("worker", env, log_dir)` runs the Procfile's own `worker` line with
`sh -c` (as honcho does), in a session of its own, logging to a file
(`tests.processes.LoggedProcess`); `stop()` sends SIGTERM to the whole group and SIGKILL
if it lingers. `stack_env()` gives such processes the test's database (pytest-django's,
committed rows only: tests use `transaction=True`), the shared Redis (db 15) and a Celery
queue of their own.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from pathlib import Path

import pytest

from tests.processes import REPO, LoggedProcess, database_url
from tests.services import REDIS_HOST, REDIS_PORT

BROKER_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/15"
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")  # honcho's own pattern


def procfile_command(name: str) -> str:
    """The command of process `name` in the repository's Procfile."""
    for line in (REPO / "Procfile").read_text().splitlines():
        match = PROCFILE_LINE.match(line)
        if match and match.group(1) == name:
            return match.group(2)
    pytest.fail(f"the Procfile has no {name!r} process")


def stack_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of the stack's processes: the test database, Redis db 15, new queues (the
    export queue and the notifications queue)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "FLOWER_"))}
    queue = f"crmsync-ops-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(REPO),
        DJANGO_SETTINGS_MODULE="tests.ops.celery_settings",
        CRMSYNC_TEST_QUEUE=queue,
        CRMSYNC_NOTIFICATIONS_QUEUE=f"{queue}.notifications",
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=BROKER_URL,
        CRMSYNC_VAR_DIR=str(var_dir),
        CRMSYNC_WORKER_CONCURRENCY="1",
        CRMSYNC_LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


class ProcfileProcess(LoggedProcess):
    """One Procfile process (plus extra arguments), logging to `<log_dir>/<name>.log`."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, extra_args: str = "") -> None:
        super().__init__(name, env, log_dir)
        self.command = f"{procfile_command(name)} {extra_args}".strip()

    def argv(self) -> list[str]:
        return ["sh", "-c", self.command]
