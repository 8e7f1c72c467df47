"""Flower, as the Procfile starts it, refuses to start without credentials, answers its
API only with them, and listens on loopback only; the sandbox org listens on loopback only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sandbox.server import SandboxOrg
from tests.conftest import wait_for
from tests.processes import free_port
from tests.services import require_redis

REPO = Path(__file__).resolve().parents[2]


def procfile_command(name: str) -> str:
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"the Procfile has no {name} process")


def listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def run_procfile(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    return subprocess.Popen(
        ["bash", "-c", procfile_command(name)],
        cwd=REPO,
        env={**os.environ, "PATH": path, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_procfile_binds_every_http_process_to_loopback():
    for name in ("web", "flower"):
        assert re.search(r"127\.0\.0\.1", procfile_command(name)), name


def test_flower_will_not_start_without_credentials():
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"}
    process = subprocess.run(
        ["bash", "-c", procfile_command("flower")],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert process.returncode != 0
    assert b"FLOWER_BASIC_AUTH" in process.stderr


@pytest.mark.integration
def test_flower_api_needs_credentials_and_listens_on_loopback_only(tmp_path):
    require_redis()
    port = free_port()
    flower = run_procfile(
        "flower",
        {
            "FLOWER_BASIC_AUTH": "ops:correct-horse",
            "FLOWER_PORT": str(port),
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
            "CRMSYNC_VAR_DIR": str(tmp_path),
        },
    )
    try:
        url = f"http://127.0.0.1:{port}/api/workers"

        def answers() -> list[requests.Response]:
            try:
                return [requests.get(url, timeout=2)]  # a 401 Response is falsy itself
            except requests.ConnectionError:
                return []

        assert wait_for(answers, timeout=30, interval=0.2)[0].status_code == 401
        assert requests.get(url, auth=("ops", "wrong"), timeout=5).status_code == 401
        assert requests.get(url, auth=("ops", "correct-horse"), timeout=10).status_code == 200
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
    finally:
        os.killpg(flower.pid, 15)
        flower.wait(15)


def test_sandbox_org_listens_on_loopback_only(tmp_path):
    org = SandboxOrg(tmp_path).start()
    try:
        assert listening_addresses(org.port) == {"0100007F"}
    finally:
        org.stop()
