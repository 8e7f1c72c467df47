"""Celery's bug report never shows the broker's (or the cache's) password: not the worker's
answer to the `report` remote-control command (`celery inspect report`, which is how
Celery registers `bugreport` in a worker), not `celery report` (`app.bugreport()`), not
the bug report Flower's error page prints. Real processes: a private redis-server that
needs a password, the Procfile's `worker` line, the `celery` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.ops.processes import ProcfileProcess
from tests.password_redis import PasswordRedis
from tests.processes import REPO, free_port, running

pytestmark = pytest.mark.integration

PASSWORD = "broker-pw-Rb40qX"
CELERY = str(Path(sys.executable).with_name("celery"))


def run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def test_bug_reports_mask_the_password(tmp_path: Path) -> None:
    server = PasswordRedis(tmp_path / "redis", PASSWORD).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "FLOWER_"))}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "CELERY_BROKER_URL": server.url,
        "CRMSYNC_CACHE_URL": server.url_for(1),
        "CRMSYNC_VAR_DIR": str(tmp_path / "var"),
    }
    name = f"sec-report-{free_port()}@{os.uname().nodename}"
    worker = ProcfileProcess("worker", env, tmp_path, extra_args=f"-n {name}")
    try:
        with running(worker):
            worker.wait_for_log("ready.")

            def remote_report() -> str | None:
                out = run([CELERY, "-A", "crmsync", "inspect", "report", "-d", name, "--json"], env)
                answer = out[out.find("{") :]
                return json.loads(answer)[name]["ok"] if answer.startswith("{") else None

            remote = wait_for(remote_report, 60, interval=1, what="the worker's report")
        local = run([CELERY, "-A", "crmsync", "report"], env)
        flower = run([sys.executable, "-c", "from flower.utils import bugreport; print(bugreport())"], env)  # fmt: skip
    finally:
        server.stop()

    assert "broker_url: 'redis://:********@127.0.0.1" in remote, remote
    assert "broker_url: 'redis://:********@127.0.0.1" in local, local
    assert "flower" in flower and "software -> celery" in flower, flower
    for shown in (remote, local, flower, worker.log()):
        assert PASSWORD not in shown
