"""Each configured OAuth flow logs in against login_url; a bad login is a clear AuthError."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from accounts.models import CRMSettings
from salesforce.client import AuthError, Gateway
from tests.salesforce.conftest import contacts


def _private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    "flow_settings",
    [
        {"auth_flow": "client_credentials", "client_secret": "s3cret"},
        {
            "auth_flow": "password",
            "client_secret": "s3cret",  # a new auth flow forgets the stored secrets
            "username": "sync@example.com",
            "password": "pw+token",
        },
        {"auth_flow": "jwt_bearer", "username": "sync@example.com"},
    ],
    ids=["client_credentials", "password", "jwt_bearer"],
)
def test_each_flow_logs_in_and_writes(
    crm: CRMSettings, sandbox: Any, flow_settings: dict[str, str]
) -> None:
    for name, value in flow_settings.items():
        setattr(crm, name, value)
    if crm.auth_flow == "jwt_bearer":
        crm.private_key = _private_key_pem()
    crm.save()

    gateway = Gateway(crm)
    check = gateway.check_connection()
    results = gateway.upsert_collection("Contact", "ExtId__c", contacts("p-1"), all_or_none=True)

    assert check.instance_url.rstrip("/") == sandbox.url.rstrip("/")
    assert check.api_version == crm.api_version
    assert check.api_limit and check.api_used is not None
    assert results[0].ok and results[0].created is True


def test_wrong_secret_is_a_clear_auth_error_without_the_secret(crm: CRMSettings) -> None:
    crm.client_secret = "not-the-s3cret-value"
    crm.save()

    with pytest.raises(AuthError) as caught:
        Gateway(crm).upsert_collection("Contact", "ExtId__c", contacts("p-1"), all_or_none=True)

    message = caught.value.message
    assert "login" in message and "client id" in message
    assert caught.value.code.startswith("invalid_")
    assert "not-the-s3cret-value" not in message + repr(caught.value)


def test_unknown_client_is_an_auth_error(crm: CRMSettings) -> None:
    crm.client_id = "nobody"
    crm.save()

    with pytest.raises(AuthError, match="login"):
        Gateway(crm).check_connection()


def test_missing_secret_is_named_before_anything_is_sent(crm: CRMSettings) -> None:
    crm.auth_flow = "password"
    crm.client_secret, crm.password = "s3cret", "pw"  # a new auth flow forgets the stored ones
    crm.username = ""
    crm.save()
    gateway = Gateway(crm)

    with pytest.raises(AuthError, match="no username"):
        gateway.check_connection()
    assert gateway.api_calls == 0


def test_login_url_with_a_path_is_refused_before_anything_is_sent(
    crm: CRMSettings, sandbox: Any
) -> None:
    crm.login_url = f"{sandbox.url}/not-here"
    crm.client_secret = "s3cret"
    crm.save()
    gateway = Gateway(crm)

    with pytest.raises(AuthError, match="login URL") as caught:
        gateway.check_connection()
    assert caught.value.code == "LOGIN_HOST_REFUSED"
    assert gateway.api_calls == 0


@pytest.mark.parametrize("version", ["v62.0", "62", "45.0"])
def test_unusable_api_version_is_named_before_anything_is_sent(
    crm: CRMSettings, version: str
) -> None:
    crm.api_version = version
    crm.save()
    gateway = Gateway(crm)

    with pytest.raises(AuthError, match="46.0 or later"):
        gateway.upsert_collection("Contact", "ExtId__c", contacts("p-1"), all_or_none=True)
    assert gateway.api_calls == 0
