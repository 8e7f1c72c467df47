"""TLS is verified against the account's CA bundle, whatever REQUESTS_CA_BUNDLE says."""

from __future__ import annotations

import os
from typing import Any

import pytest

from accounts.models import CRMSettings
from exports.gateway import AuthError, Gateway


@pytest.fixture(autouse=True)
def _ca_variables_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on production machines: both variables name the system bundle."""
    system_bundle = os.environ.get("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", system_bundle)
    monkeypatch.setenv("CURL_CA_BUNDLE", system_bundle)


def test_the_ca_bundle_wins_over_the_environment(crm: CRMSettings) -> None:
    assert Gateway(crm).check_connection().api_limit


def test_without_ca_bundle_the_sandbox_is_not_trusted(crm: CRMSettings, sandbox: Any) -> None:
    crm.ca_bundle = ""
    crm.client_secret = "s3cret"  # a new CA bundle forgets the stored secrets
    crm.save()

    with pytest.raises(AuthError) as caught:
        Gateway(crm).check_connection()

    assert caught.value.code == "TLS"
    assert "could not be verified against the system CAs" in caught.value.message
    assert "CA bundle" in caught.value.message


def test_a_missing_ca_file_is_refused_before_anything_is_sent(
    crm: CRMSettings, tmp_path: Any
) -> None:
    crm.ca_bundle = str(tmp_path / "nope.pem")
    crm.client_secret = "s3cret"
    crm.save()
    gateway = Gateway(crm)

    with pytest.raises(AuthError, match="CA bundle of account .* cannot be used") as caught:
        gateway.check_connection()
    assert caught.value.code == "BAD_CA_BUNDLE"
    assert gateway.api_calls == 0
