"""TLS is verified against the account's CA bundle, whatever REQUESTS_CA_BUNDLE says."""

from __future__ import annotations

import os
import ssl
from typing import Any

import pytest

from accounts.models import CRMSettings
from salesforce.client import AuthError, Gateway


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


def test_a_ca_bundle_is_read_once_per_process_not_per_connection(
    crm: CRMSettings, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every small account's run opens a new HTTPS connection: reading the bundle for each
    (the system's ~140 CAs: 15-45 ms of CPU) would be most of what a small run costs."""
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(open(crm.ca_bundle, "rb").read())
    crm.ca_bundle = str(bundle)
    crm.client_secret = "s3cret"  # a new CA bundle forgets the stored secrets
    crm.save()
    reads: list[str] = []
    real = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, cafile: Any = None, *args: Any, **kwargs: Any) -> None:
        reads.append(str(cafile))
        real(self, cafile, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)

    for _ in range(3):  # three gateways: three connections (and logins)
        with Gateway(crm) as gateway:
            assert gateway.check_connection().api_limit
    assert reads == [str(bundle)]

    bundle.write_bytes(bundle.read_bytes() + b"\n")  # a changed file is read again
    with Gateway(crm) as gateway:
        assert gateway.check_connection().api_limit
    assert reads == [str(bundle)] * 2
