"""The sandbox's control endpoints (`/sandbox/*`: rules with client secrets, faults, the
write log, deleting data) answer only requests carrying header X-Sandbox-Token with the
token the org wrote to `<data-dir>/control-token` at start: missing → 401, wrong → 403,
each a JSON error saying where the token is. Salesforce's own endpoints need no token."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.server import SandboxOrg
from tests.sandbox_fixtures import sandbox_session

ROUTES = [
    ("GET", "/sandbox/rules"),
    ("PUT", "/sandbox/rules"),
    ("PATCH", "/sandbox/faults"),
    ("GET", "/sandbox/writes"),
    ("DELETE", "/sandbox/data"),
    ("POST", "/sandbox/expire_tokens"),
    ("GET", "/sandbox/health"),
    ("GET", "/sandbox/no-such-endpoint"),
]


@pytest.fixture
def org(tmp_path: Path):
    with SandboxOrg(tmp_path / "org") as running:
        yield running


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_token_is_401_and_a_wrong_one_403(org: SandboxOrg, method: str, path: str) -> None:
    session = sandbox_session(org.ca_path)
    body = {"json": {}} if method in ("PUT", "PATCH") else {}

    missing = session.request(method, org.url + path, timeout=10, **body)
    wrong = session.request(
        method, org.url + path, headers={"X-Sandbox-Token": "guess"}, timeout=10, **body
    )

    assert (missing.status_code, missing.json()["error"]) == (401, "sandbox_token_required")
    assert (wrong.status_code, wrong.json()["error"]) == (403, "sandbox_token_invalid")
    assert "control-token" in missing.json()["message"]


def test_the_token_of_the_data_dir_opens_them_and_nothing_else_needs_it(org: SandboxOrg) -> None:
    session = sandbox_session(org.ca_path)
    token = (org.data_dir / "control-token").read_text()

    rules = session.get(f"{org.url}/sandbox/rules", headers={"X-Sandbox-Token": token}, timeout=10)
    login = session.post(
        f"{org.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox",
            "client_secret": "sandbox",
        },
        timeout=10,
    )

    assert rules.status_code == 200 and "faults" in rules.json()
    assert login.status_code == 200 and login.json()["access_token"]


def test_every_start_writes_a_new_token(tmp_path: Path) -> None:
    with SandboxOrg(tmp_path) as first:
        before = first.control_token
    with SandboxOrg(tmp_path) as second:
        assert second.control_token != before
        assert (tmp_path / "control-token").read_text() == second.control_token
