"""What a login tells a person names the account by its slug, as every page and command
does, never by its database id: the Salesforce client reads it off the connection settings
(salesforce.connection.Connection.account_slug), without importing the accounts app."""

from __future__ import annotations

import pytest

from salesforce.client import AuthError, Gateway
from tests.factories import CRMSettingsFactory

pytestmark = pytest.mark.django_db


def test_a_refused_login_names_the_account_by_its_slug() -> None:
    crm = CRMSettingsFactory(
        account__slug="acme-industries", auth_flow="password", password="pw", username=""
    )
    gateway = Gateway(crm)

    with pytest.raises(AuthError) as caught:
        gateway.check_connection()  # refused before anything is sent: no username

    message = caught.value.message
    assert "The CRM settings of account acme-industries have no username" in message
    assert f"account {crm.account_id}" not in message
    assert gateway.api_calls == 0
