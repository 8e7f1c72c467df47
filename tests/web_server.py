"""The web server `make run` starts, for the browser tests: gunicorn from the Procfile.

`web_server` does what `make run` does for the `web` process, on the test database:
`manage.py collectstatic` into a var dir of its own (once per session; WhiteNoise serves
STATIC_ROOT from the web process), then the Procfile's `web` line on a free port.
It sees what the tests commit (browser tests use `transaction=True`), and publishes
tasks to the tests' own Redis queues (tests/celery_fixtures.py), where the `celery_worker`
fixture takes them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.celery_fixtures import TEST_NOTIFICATIONS_QUEUE, TEST_QUEUE, TEST_REDIS_URL
from tests.conftest import wait_for
from tests.ops.processes import ProcfileProcess, stack_env
from tests.processes import REPO, free_port, running


@dataclass(frozen=True)
class WebServer:
    url: str
    process: ProcfileProcess


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/admin/login/", timeout=5).status_code == 200
    except requests.RequestException:  # not listening yet, or still booting its workers
        return False


def collect_static(env: dict[str, str]) -> None:
    """`manage.py collectstatic`, as `make run` runs it before the stack starts."""
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"collectstatic failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def web_env(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The web process's environment, its static files collected (once per session)."""
    var_dir = tmp_path_factory.mktemp("web-var")
    env = stack_env(
        var_dir,
        WEB_CONCURRENCY="2",
        CELERY_BROKER_URL=TEST_REDIS_URL,
        CRMSYNC_TEST_QUEUE=TEST_QUEUE,
        CRMSYNC_NOTIFICATIONS_QUEUE=TEST_NOTIFICATIONS_QUEUE,
    )
    collect_static(env)
    return env


@pytest.fixture
def web_server(web_env: dict[str, str], tmp_path: Path) -> Iterator[WebServer]:
    """gunicorn from the Procfile, new for each test: a process that outlived a test would
    keep caches of rows the test database has since flushed (content type ids, ...)."""
    port = free_port()
    web = ProcfileProcess("web", web_env | {"WEB_PORT": str(port)}, tmp_path)
    url = f"http://127.0.0.1:{port}"
    with running(web):

        def up() -> bool:
            if not web.alive:
                pytest.fail(f"gunicorn exited early; its log ({web.log_path}):\n{web.tail()}")
            return _answers(url)

        wait_for(up, timeout=60, what=f"gunicorn answers at {url}")
        yield WebServer(url, web)
