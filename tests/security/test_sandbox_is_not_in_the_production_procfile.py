"""The sandbox org is a development tool, not part of production: the Procfile (what
production and `make run` start with honcho) has no sandbox process, and `make sandbox`
starts it on its own. honcho stops every process when one exits, so keeping the sandbox
out of the Procfile is also what keeps its exit from stopping web, worker, beat and
Flower."""

from __future__ import annotations

import subprocess

from tests.processes import REPO


def test_the_procfile_starts_no_sandbox() -> None:
    processes = [
        line.split(":", 1)
        for line in (REPO / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    ]

    assert [name for name, _ in processes] == ["web", "worker", "notifier", "beat", "flower"]
    assert not any("sandbox_org" in command for _, command in processes)


def test_make_sandbox_starts_it_beside_the_stack() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "sandbox"], cwd=REPO, capture_output=True, text=True, timeout=30, check=True
    )

    [command] = [line for line in dry_run.stdout.splitlines() if "sandbox_org" in line]
    assert "--port 8443" in command and "CRMSYNC_EXTRA_LOGIN_HOSTS" in command
