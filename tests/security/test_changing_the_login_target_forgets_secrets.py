"""A stored secret is only ever sent where it was saved for: changing the login URL, the
auth flow or the CA bundle removes the stored secrets unless new ones are given in the
same save — in the admin (which says so before saving) and in `crm_account` alike — so
the next "Test connection" cannot post them to the new host."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import CRMSettings
from salesforce.login_hosts import parse_extra_hosts
from tests.admin.conftest import CLIENT_SECRET, PASSWORD, change_url, settings_post
from tests.factories import AccountFactory
from tests.security.listeners import json_answer, listening


def token(seen):
    return json_answer(200, '{"access_token": "tok", "instance_url": "https://127.0.0.1:9"}')


@pytest.mark.django_db
def test_a_new_login_url_in_the_admin_takes_no_secret_along(
    super_client, crm_settings, settings, tmp_path
) -> None:
    with listening(token, tls_dir=tmp_path / "tls") as new_host:
        settings.CRMSYNC_EXTRA_LOGIN_HOSTS = parse_extra_hosts(new_host.host_port)
        data = settings_post(crm_settings, login_url=new_host.url, ca_bundle=new_host.ca_path)
        saved = super_client.post(change_url(crm_settings), data, follow=True)
        super_client.post(f"/admin/accounts/crmsettings/{crm_settings.pk}/test-connection/")

    received = new_host.everything_received()
    assert CLIENT_SECRET.encode() not in received and PASSWORD.encode() not in received
    assert "were removed" in saved.content.decode()
    crm_settings.refresh_from_db()
    assert (crm_settings.client_secret, crm_settings.private_key, crm_settings.password) == (
        "", "", ""
    )  # fmt: skip
    page = super_client.get(change_url(crm_settings)).content.decode()
    assert "Changing the login URL, auth flow or CA bundle removes the stored" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [{"auth_flow": "password"}, {"ca_bundle": "/etc/ssl/certs/ca-certificates.crt"}],
    ids=["auth flow", "CA bundle"],
)
def test_a_new_flow_or_ca_bundle_forgets_them_too(super_client, crm_settings, change) -> None:
    super_client.post(change_url(crm_settings), settings_post(crm_settings, **change))

    crm_settings.refresh_from_db()
    assert crm_settings.client_secret == "" and crm_settings.password == ""


@pytest.mark.django_db
def test_a_secret_typed_in_the_same_save_is_kept(super_client, crm_settings) -> None:
    data = settings_post(crm_settings, login_url="https://acme.my.salesforce.com",
                         client_secret="typed-again")  # fmt: skip
    super_client.post(change_url(crm_settings), data)

    crm_settings.refresh_from_db()
    assert crm_settings.client_secret == "typed-again"
    assert crm_settings.password == ""  # not typed again: removed


@pytest.mark.django_db
def test_crm_account_forgets_them_unless_given_again(monkeypatch) -> None:
    monkeypatch.setenv("ACME_SECRET", "from-the-env")
    account = AccountFactory(slug="acme")
    crm = CRMSettings.objects.get(account=account)
    crm.client_secret, crm.password = "old-secret", "old-password"
    crm.save()
    stderr = io.StringIO()

    call_command("crm_account", "create", "acme", "--login-url", "https://acme.my.salesforce.com",
                 "--client-secret-env", "ACME_SECRET", stdout=io.StringIO(), stderr=stderr)  # fmt: skip

    crm.refresh_from_db()
    assert (crm.client_secret, crm.password) == ("from-the-env", "")
    assert "password was removed" in stderr.getvalue() and "--password-env" in stderr.getvalue()
