"""The Procfile's `worker` (and `flower`) lines as processes: `worker` for the tests of
what the worker logs, `flower` for the README's Flower runbook. Both on the shared Redis (a
queue of the module's own) and the test database; the sandbox org runs in the test process
and the worker reaches it over HTTPS."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from crmsync.celery import app as celery_app
from tests.conftest import wait_for
from tests.ops.processes import ProcfileProcess, stack_env
from tests.processes import REPO, free_port, running
from tests.services import require_redis

USER, PASSWORD = "ops", "s3cret-flower"


@dataclass
class Flower:
    url: str
    worker: ProcfileProcess
    flower: ProcfileProcess

    def apply(self, task: str, auth: Any = (USER, PASSWORD), **body: Any) -> requests.Response:
        """POST /api/task/async-apply/<task> with a JSON body, as the runbook's curl does."""
        return requests.post(
            f"{self.url}/api/task/async-apply/{task}", json=body, auth=auth, timeout=10
        )

    def task_info(self, task_id: str) -> dict[str, Any] | None:
        response = requests.get(
            f"{self.url}/api/task/info/{task_id}", auth=(USER, PASSWORD), timeout=10
        )
        return response.json() if response.status_code == 200 else None

    def tasks(self, **query: str) -> dict[str, dict[str, Any]]:
        """GET /api/tasks?<query>: the tasks Flower knows, by task id."""
        response = requests.get(
            f"{self.url}/api/tasks", params=query, auth=(USER, PASSWORD), timeout=10
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def flower(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flower]:
    require_redis()
    tmp = tmp_path_factory.mktemp("flower-stack")
    port = free_port()
    env = stack_env(tmp / "var", FLOWER_BASIC_AUTH=f"{USER}:{PASSWORD}", FLOWER_PORT=str(port))
    worker = ProcfileProcess("worker", env, tmp, extra_args=f"-n ops-flower-{port}@%h")
    flower = ProcfileProcess("flower", env, tmp)
    with running(worker, flower):
        worker.wait_for_log("ready.")
        flower.wait_for_log("Visit me at")
        stack = Flower(f"http://127.0.0.1:{port}", worker, flower)
        wait_for(lambda: _answers(stack), timeout=30)
        yield stack


def _answers(stack: Flower) -> bool:
    try:
        return requests.get(f"{stack.url}/api/workers", auth=(USER, PASSWORD), timeout=2).ok
    except requests.ConnectionError:
        return False


@dataclass
class Worker:
    """The Procfile's `worker` line as a process, a way to send it a task, and to run a
    management command as a person would, against the same database and queue."""

    process: ProcfileProcess
    env: dict[str, str]

    def send(self, task: str, *args: Any, **kwargs: Any) -> None:
        queue = self.env["CRMSYNC_TEST_QUEUE"]
        celery_app.send_task(task, args=list(args), kwargs=kwargs, queue=queue)

    def lines(self, text: str) -> list[str]:
        """The worker's log lines that contain `text`."""
        return [line for line in self.process.log().splitlines() if text in line]

    def manage(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`python manage.py <argv>` in a process of its own: its exit status, stdout, stderr."""
        return subprocess.run(
            [sys.executable, "manage.py", *argv],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@contextmanager
def worker_process(tmp: Path, **env: str) -> Iterator[Worker]:
    """The Procfile's worker with `env` on top of the stack's environment."""
    require_redis()
    stack = stack_env(tmp / "var", **env)
    process = ProcfileProcess("worker", stack, tmp, extra_args=f"-n ops-worker-{tmp.name}@%h")
    with running(process):
        process.wait_for_log("ready.")
        yield Worker(process, stack)


@pytest.fixture(scope="module")
def worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    with worker_process(tmp_path_factory.mktemp("worker")) as started:
        yield started
