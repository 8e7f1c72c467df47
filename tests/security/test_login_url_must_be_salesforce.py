"""Logins go only where Salesforce is: the login URL must be https://HOST[:PORT] and
nothing else, HOST a subdomain of salesforce.com or force.com on port 443, or HOST:PORT
listed in CRMSYNC_EXTRA_LOGIN_HOSTS. The admin form and `crm_account` refuse any other."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import CRMSettings
from salesforce.login_hosts import LoginHostRefused, checked_origin, parse_extra_hosts
from tests.admin.conftest import change_url, settings_post

EXTRA = parse_extra_hosts("127.0.0.1:8443, proxy.corp.example")

ACCEPTED = {
    "https://login.salesforce.com": "https://login.salesforce.com",
    "https://test.salesforce.com/": "https://test.salesforce.com",
    "https://acme.my.salesforce.com": "https://acme.my.salesforce.com",
    "https://acme--uat.sandbox.my.salesforce.com": "https://acme--uat.sandbox.my.salesforce.com",
    "https://acme.lightning.force.com": "https://acme.lightning.force.com",
    "https://LOGIN.Salesforce.COM:443": "https://login.salesforce.com",
    "https://127.0.0.1:8443": "https://127.0.0.1:8443",  # listed
    "https://proxy.corp.example": "https://proxy.corp.example",  # listed without port: 443
}
REFUSED = [
    "http://login.salesforce.com",  # clear text
    "ftp://login.salesforce.com",
    "https://salesforce.com",  # the bare domain is no login host
    "https://evilsalesforce.com",  # not on a dot boundary
    "https://login.salesforce.com.evil.example",
    "https://login.salesforce.com.",
    "https://login.salesforce.com:8443",  # Salesforce listens on 443 only
    "https://login.salesforce.com@127.0.0.1:8443",  # userinfo
    "https://user:pw@login.salesforce.com",
    "https://login.salesforce.com\\@127.0.0.1",
    "https://login.salesforce.com/services/oauth2/token",  # a path
    "https://login.salesforce.com/?next=x",  # a query
    "https://login.salesforce.com#x",  # a fragment
    "https://127.0.0.1",  # IP addresses only when listed, with their port
    "https://127.0.0.1:8444",
    "https://127.1:8443",
    "https://2130706433",
    "https://10.0.0.5",
    "https://[::1]:8443",
    "https://metadata.google.internal",
    "https://proxy.corp.example:8443",  # listed for 443 only
    "https://",
    "",
]


@pytest.mark.parametrize(("url", "origin"), ACCEPTED.items())
def test_salesforce_and_listed_hosts_are_accepted(url: str, origin: str) -> None:
    assert checked_origin(url, EXTRA) == origin


@pytest.mark.parametrize("url", REFUSED)
def test_every_other_url_is_refused(url: str) -> None:
    with pytest.raises(LoginHostRefused):
        checked_origin(url, EXTRA)


@pytest.mark.parametrize("entry", ["[::1]:8443", "127.0.0.1:0", "127.0.0.1:99999", "a b", "x:y"])
def test_a_bad_extra_hosts_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match="CRMSYNC_EXTRA_LOGIN_HOSTS"):
        parse_extra_hosts(entry)


def test_the_admin_form_refuses_an_unlisted_host(super_client, crm_settings, sandbox) -> None:
    other_port = "https://127.0.0.1:9"  # the sandbox's port is listed, this one is not
    response = super_client.post(
        change_url(crm_settings), settings_post(crm_settings, login_url=other_port)
    )

    assert response.status_code == 200  # the form again, not a redirect
    assert "is not a Salesforce host" in response.content.decode()
    crm_settings.refresh_from_db()
    assert crm_settings.login_url != other_port


@pytest.mark.django_db
def test_crm_account_refuses_an_unlisted_host() -> None:
    with pytest.raises(CommandError) as refused:
        call_command(
            "crm_account", "create", "acme", "--login-url", "https://169.254.169.254",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip

    assert refused.value.returncode == 2
    assert "--login-url: The login URL is not a Salesforce host" in str(refused.value)
    assert not CRMSettings.objects.filter(account__slug="acme").exists()
