"""The gateway ignores the environment except HTTPS_PROXY, and NO_PROXY exempts a host."""

from __future__ import annotations

import pytest

from accounts.models import CRMSettings
from salesforce.client import Gateway, TransientError

NOWHERE = "http://127.0.0.1:9"  # the discard port: no proxy listens there


def test_https_proxy_is_used(crm: CRMSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", NOWHERE)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    with pytest.raises(TransientError, match="Could not reach"):
        Gateway(crm).check_connection()


def test_no_proxy_exempts_the_login_host(crm: CRMSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", NOWHERE)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    assert Gateway(crm).check_connection().api_limit
