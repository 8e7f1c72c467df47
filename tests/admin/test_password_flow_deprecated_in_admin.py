"""The admin marks the username-password flow deprecated (Salesforce retires it on February
20, 2027) wherever it can be chosen or is in use, and recommends the other flows."""

from __future__ import annotations

import pytest

from accounts.models import PASSWORD_FLOW_WARNING, CRMSettings
from tests.admin.conftest import change_url
from tests.factories import CRMSettingsFactory

pytestmark = pytest.mark.django_db

RETIRED = "February 20, 2027"


@pytest.fixture
def on_password(crm_settings: CRMSettings) -> CRMSettings:
    crm_settings.auth_flow = CRMSettings.AuthFlow.PASSWORD
    crm_settings.save()
    return crm_settings


def test_the_choice_and_its_help_say_deprecated_and_recommend_the_others(super_client):
    settings = CRMSettingsFactory()

    html = super_client.get(change_url(settings)).content.decode()

    assert f'<option value="password">Username and password (deprecated, retired {RETIRED})' in html
    assert "client credentials (recommended) or JWT bearer" in html
    assert "External Client App" in html
    assert 'id="password-flow-warning"' not in html


def test_the_settings_page_of_an_account_on_it_warns(super_client, on_password):
    html = super_client.get(change_url(on_password)).content.decode()

    assert (
        f'<li class="warning" id="password-flow-warning">{PASSWORD_FLOW_WARNING}'
        in html.replace("&#x27;", "'")
    )
    assert RETIRED in PASSWORD_FLOW_WARNING and "External Client App" in PASSWORD_FLOW_WARNING


@pytest.mark.integration
def test_test_connection_warns(super_client, crm_account):
    settings = crm_account(
        auth_flow="password", username="integration@example.com", password="pw-of-the-user"
    ).crm_settings

    response = super_client.post(
        f"/admin/accounts/crmsettings/{settings.pk}/test-connection/", follow=True
    )

    connected, warning = response.context["messages"]
    assert str(connected).startswith("Connected to")
    assert (warning.level_tag, str(warning)) == ("warning", PASSWORD_FLOW_WARNING)


def test_the_status_pages_list_the_accounts_on_it(super_client, on_password):
    CRMSettingsFactory(account__slug="globex")
    slug = on_password.account.slug

    index = super_client.get("/admin/exports/status/").content.decode()
    page = super_client.get(f"/admin/exports/status/{slug}/").content.decode()

    assert "1 account still logs in with the username-password flow:" in index
    assert f">{slug}</a>." in index
    assert "globex</a>." not in index
    assert index.count("(password flow: deprecated)") == 1
    assert 'id="password-flow-warning"' in page
