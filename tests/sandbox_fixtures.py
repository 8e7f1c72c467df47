"""Fixtures for tests that talk to the sandbox org over real HTTPS.

- `sandbox_org` (session): one SandboxOrg on a free port with a temporary data dir.
- `sandbox` (function): resets the org's data, write log, rules and faults, then returns a
  `SandboxHelper` (`.url`, `.ca_path`, `.data_dir`, `.client_id`, `.client_secret`,
  `.set_rules()`, `.set_faults()`, `.stats()`, `.writes()`, `.records()`, `.reset()`,
  `.expire_tokens()`, `.login()`, `.salesforce()`); its session sends the org's
  X-Sandbox-Token to /sandbox/*.

REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE are set on these machines and would override a
session's `verify` (a long-standing requests behaviour): every session here has `trust_env = False`.

Logins go only to Salesforce's hosts and those in CRMSYNC_EXTRA_LOGIN_HOSTS: while the
session's sandbox org runs, its 127.0.0.1:PORT is listed there (`allowed_login_host`),
in Django's settings and in the environment the test's worker processes inherit. Any
other local port stays refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from simple_salesforce import Salesforce

from salesforce.login_hosts import ENV_NAME, with_origin_of
from sandbox import control
from sandbox.server import SandboxOrg

API_VERSION = "59.0"
TIMEOUT_S = 15


def sandbox_session(ca_path: Path) -> requests.Session:
    """A requests session that trusts only the sandbox CA and ignores the environment."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_path)
    return session


class SandboxHelper:
    """Drives one running SandboxOrg: its control endpoints and logged-in clients."""

    client_id = "sandbox"
    client_secret = "sandbox"

    def __init__(self, org: SandboxOrg) -> None:
        self.org = org
        self.url = org.url
        self.ca_path = org.ca_path
        self.data_dir = org.data_dir
        self.session = sandbox_session(org.ca_path)
        # /sandbox/* needs the token the org wrote to its data dir (read as any client would).
        self.session.headers[control.HEADER] = control.read_token(org.data_dir)

    def set_rules(self, rules: dict[str, Any]) -> dict[str, Any]:
        """Replace the rules (and faults) at runtime; fails the test on a rejected document."""
        response = self.session.put(f"{self.url}/sandbox/rules", json=rules, timeout=TIMEOUT_S)
        assert response.status_code == 200, f"sandbox refused the rules: {response.text}"
        return response.json()

    def set_faults(self, **faults: int) -> dict[str, int]:
        """Change only the named faults, e.g. set_faults(fail_next=2, fail_status=503)."""
        response = self.session.patch(f"{self.url}/sandbox/faults", json=faults, timeout=TIMEOUT_S)
        assert response.status_code == 200, f"sandbox refused the faults: {response.text}"
        return response.json()

    def rules(self) -> dict[str, Any]:
        return self.session.get(f"{self.url}/sandbox/rules", timeout=TIMEOUT_S).json()

    def stats(self) -> dict[str, int]:
        """Requests in flight, their peak, refusals over the cap, logins (`GET /sandbox/stats`)."""
        response = self.session.get(f"{self.url}/sandbox/stats", timeout=TIMEOUT_S)
        response.raise_for_status()
        return response.json()

    def writes(self, since: int = 0) -> list[dict[str, Any]]:
        """The write log after `since`, in order."""
        response = self.session.get(
            f"{self.url}/sandbox/writes", params={"since": since}, timeout=TIMEOUT_S
        )
        response.raise_for_status()
        return response.json()["writes"]

    def records(self, sobject: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every `sobject` record the org holds now, with `fields` (one SOQL query, all its
        pages, through a logged-in client)."""
        found = self.salesforce().query_all(f"SELECT {', '.join(fields)} FROM {sobject}")
        return [{name: record.get(name) for name in fields} for record in found["records"]]

    def reset(self) -> None:
        """Empty the org (records, write log, API usage) and restore default rules and faults."""
        self.session.delete(f"{self.url}/sandbox/data", timeout=TIMEOUT_S).raise_for_status()
        self.set_rules({})

    def expire_tokens(self) -> None:
        """Invalidate every issued access token (the next data call answers 401)."""
        self.session.post(f"{self.url}/sandbox/expire_tokens", timeout=TIMEOUT_S).raise_for_status()

    def login(self, grant_type: str = "client_credentials", **form: str) -> dict[str, Any]:
        """POST the token endpoint; return its JSON (raises on a refused login)."""
        data = {
            "grant_type": grant_type,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            **form,
        }
        response = self.session.post(
            f"{self.url}/services/oauth2/token", data=data, timeout=TIMEOUT_S
        )
        assert response.status_code == 200, f"sandbox login failed: {response.text}"
        return response.json()

    def salesforce(self, version: str = API_VERSION) -> Salesforce:
        """A real simple-salesforce client, logged in with client credentials."""
        token = self.login()
        return Salesforce(
            instance_url=token["instance_url"],
            session_id=token["access_token"],
            session=sandbox_session(self.ca_path),
            version=version,
        )


def sandbox_salesforce(helper: SandboxHelper, version: str = API_VERSION) -> Salesforce:
    """Module-level spelling of `helper.salesforce()`."""
    return helper.salesforce(version)


@contextmanager
def allowed_login_host(url: str) -> Iterator[None]:
    """Allow logins to `url`'s host:port (CRMSYNC_EXTRA_LOGIN_HOSTS) in this process's
    settings and in the environment of the processes it starts, until the block ends."""
    before_env = os.environ.get(ENV_NAME)
    before_settings = settings.CRMSYNC_EXTRA_LOGIN_HOSTS
    host = url.removeprefix("https://")
    os.environ[ENV_NAME] = ",".join(filter(None, [before_env, host]))
    settings.CRMSYNC_EXTRA_LOGIN_HOSTS = with_origin_of(url, before_settings)
    try:
        yield
    finally:
        settings.CRMSYNC_EXTRA_LOGIN_HOSTS = before_settings
        if before_env is None:
            os.environ.pop(ENV_NAME, None)
        else:
            os.environ[ENV_NAME] = before_env


@pytest.fixture(scope="session")
def sandbox_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxOrg]:
    org = SandboxOrg(tmp_path_factory.mktemp("sandbox-org")).start()
    with allowed_login_host(org.url):
        yield org
    org.stop()


@pytest.fixture
def sandbox(sandbox_org: SandboxOrg) -> Iterator[SandboxHelper]:
    helper = SandboxHelper(sandbox_org)
    helper.reset()
    yield helper
    helper.session.close()
