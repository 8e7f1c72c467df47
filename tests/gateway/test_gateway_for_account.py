"""gateway_for(account_id) loads the settings; an unreadable secret fails its login clearly."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from accounts.models import CRMSettings
from salesforce.client import AuthError, gateway_for


def test_gateway_for_loads_the_account_settings(crm: CRMSettings) -> None:
    with gateway_for(crm.account_id) as gateway:
        assert gateway.check_connection().api_version == crm.api_version


def test_a_secret_written_with_another_key_is_an_auth_error(
    crm: CRMSettings, settings: pytest.FixtureRequest
) -> None:
    settings.CRMSYNC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # not the one it used

    with pytest.raises(AuthError, match="unreadable") as caught:
        gateway_for(crm.account_id).check_connection()

    assert caught.value.code == "SECRET_UNREADABLE"
    assert "s3cret" not in caught.value.message


def test_an_account_without_settings_is_an_auth_error(db: None) -> None:
    with pytest.raises(AuthError, match="no CRM settings"):
        gateway_for(10**9)
