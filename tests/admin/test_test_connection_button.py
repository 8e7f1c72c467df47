"""The "Test connection" button logs in through the gateway and reports usage or the error."""

from __future__ import annotations

import pytest

from salesforce.client import Gateway, GatewayError
from salesforce.login_hosts import with_origin_of
from tests.processes import free_port

pytestmark = pytest.mark.integration


def press_test_connection(client, settings):
    response = client.post(
        f"/admin/accounts/crmsettings/{settings.pk}/test-connection/", follow=True
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def test_reports_the_orgs_api_usage(super_client, crm_account, sandbox):
    settings = crm_account().crm_settings

    [message] = press_test_connection(super_client, settings)

    assert message.startswith(f"Connected to {sandbox.url}")
    assert "API requests used in the last 24 hours" in message


def test_reports_the_gateways_exact_error(super_client, crm_account):
    settings = crm_account().crm_settings
    settings.client_secret = "wrong-secret-Qp3"
    settings.save()
    with pytest.raises(GatewayError) as expected:
        Gateway(settings).check_connection()

    [message] = press_test_connection(super_client, settings)

    assert message == f"Connection failed: {expected.value.message}"
    assert "wrong-secret-Qp3" not in message


def test_an_org_that_is_down_says_what_to_check(super_client, crm_account, settings):
    org = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    settings.CRMSYNC_EXTRA_LOGIN_HOSTS = with_origin_of(org, settings.CRMSYNC_EXTRA_LOGIN_HOSTS)
    crm = crm_account(login_url=org).crm_settings

    [message] = press_test_connection(super_client, crm)

    assert message == (
        f"Connection failed: Could not reach the Salesforce login at {org}/services/oauth2/token "
        "(connection refused). Check the login URL and that the org is reachable from this "
        "server, then test again."
    )
