"""A gateway logs in with the account's settings as stored; a secret no key opens fails
its login clearly, naming the setting, never showing the secret."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from accounts.models import CRMSettings
from salesforce.client import AuthError, Gateway


def stored(crm: CRMSettings) -> CRMSettings:
    """The settings as a run reads them (secrets decrypted from the database)."""
    return CRMSettings.objects.select_related("account").get(account_id=crm.account_id)


def test_a_gateway_logs_in_with_the_stored_settings(crm: CRMSettings) -> None:
    with Gateway(stored(crm)) as gateway:
        assert gateway.check_connection().api_version == crm.api_version


def test_a_secret_written_with_another_key_is_an_auth_error(
    crm: CRMSettings, settings: pytest.FixtureRequest
) -> None:
    settings.CRMSYNC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # not the one it used

    with pytest.raises(AuthError, match="unreadable") as caught:
        Gateway(stored(crm)).check_connection()

    assert caught.value.code == "SECRET_UNREADABLE"
    assert "client secret" in caught.value.message
    assert "s3cret" not in caught.value.message
