"""Flower never shows the broker's password: not on its Broker page, not in a worker's
Config tab (the worker's answer to `inspect conf`, masked by value: a URL under a key
Celery does not censor, as Django's CELERY_BROKER_URL once was, would show it). Real
processes: a private redis-server that needs a password, the Procfile's `worker` and
`flower` lines, Flower's HTTP API and pages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import wait_for
from tests.ops.processes import ProcfileProcess
from tests.processes import free_port, running

pytestmark = pytest.mark.integration

REDIS_PASSWORD = "broker-pw-Tn63"
USER, PASSWORD = "ops", "flower-login-Kc11"


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own that needs REDIS_PASSWORD; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path), "--requirepass", REDIS_PASSWORD],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    try:
        wait_for(lambda: _answers(port), 10, what="the private redis-server to answer")
        yield url
    finally:
        server.terminate()
        server.wait(10)


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), 0.5) as sock:
            sock.sendall(f"AUTH {REDIS_PASSWORD}\r\nPING\r\n".encode())
            return b"+PONG" in sock.recv(64)
    except OSError:
        return False


def test_broker_page_and_worker_config_hide_the_password(password_redis, tmp_path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "FLOWER_"))}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "CELERY_BROKER_URL": password_redis,
        "FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}",
        "FLOWER_PORT": str(port),
        "CRMSYNC_VAR_DIR": str(tmp_path / "var"),
    }
    worker = ProcfileProcess("worker", env, tmp_path, extra_args=f"-n sec-flower-{port}@%h")
    flower = ProcfileProcess("flower", env, tmp_path)
    url = f"http://127.0.0.1:{port}"
    with running(worker, flower):
        worker.wait_for_log("ready.")
        flower.wait_for_log("Visit me at")

        def worker_config() -> dict | None:
            answer = requests.get(f"{url}/api/workers?refresh=1", auth=(USER, PASSWORD), timeout=20)
            found = [w.get("conf") for w in answer.json().values() if w.get("conf")]
            return {"text": answer.text, "conf": found[0]} if found else None

        workers = wait_for(worker_config, 60, interval=1, what="Flower to report the worker")
        pages = [requests.get(f"{url}/{page}", auth=(USER, PASSWORD), timeout=20).text
                 for page in ("broker", f"worker/sec-flower-{port}@{os.uname().nodename}")]  # fmt: skip

    assert workers["conf"]["broker_url"].startswith("redis://:********@127.0.0.1")
    for shown in (workers["text"], *pages):
        assert REDIS_PASSWORD not in shown
