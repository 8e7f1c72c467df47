"""`manage.py sandbox_org`: serves until SIGTERM; a bad rules file stops it with exit status 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.sandbox_fixtures import sandbox_session

ROOT = Path(__file__).resolve().parents[2]


def run_command(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "sandbox_org", *args], cwd=ROOT, env=env, text=True, **kwargs
    )


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('{"objects": {"Contact": {"required": ["LastName"]}', "is not valid JSON"),
        (
            '{"objects": {"Contact": {"readonly": "OwnerId"}}}',
            "objects.Contact.readonly: expected a JSON list",
        ),
        ('{"faults": {"latency": 5}}', "faults: unknown key 'latency'"),
    ],
    ids=["bad-json", "wrong-type", "unknown-key"],
)
def test_bad_rules_file_exits_2_with_a_clear_message(tmp_path, content, named):
    rules = tmp_path / "rules.json"
    rules.write_text(content)

    process = run_command(
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "d"),
        "--rules",
        str(rules),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 2
    assert named in stderr and str(rules) in stderr
    assert "Traceback" not in stderr + stdout
    assert not (tmp_path / "d").exists()


def test_serves_with_a_rules_file_until_sigterm(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"auth": {"clients": {"crmsync": "s3cret"}}}))
    output = tmp_path / "out.txt"
    with output.open("w") as out:
        process = run_command(
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "d"),
            "--rules",
            str(rules),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url_line = wait_for(
                lambda: [line for line in output.read_text().splitlines() if "https://" in line],
                timeout=60,
            )
            url = url_line[0].split()[-1]
            session = sandbox_session(tmp_path / "d" / "ca.pem")
            token = session.post(
                f"{url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "crmsync",
                    "client_secret": "s3cret",
                },
            )
            assert token.status_code == 200
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)

    assert process.returncode == 0
    assert "Sandbox org stopped." in output.read_text()
