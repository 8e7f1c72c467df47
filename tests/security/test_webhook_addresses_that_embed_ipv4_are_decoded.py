"""An IPv6 address can carry an IPv4 one that a translator or tunnel reaches: NAT64
(64:ff9b::/96), 6to4 (2002::/16), Teredo (2001::/32, the client's bits inverted),
IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d). The webhook rule decodes it
and decides on both, so [64:ff9b::7f00:1] is refused like 127.0.0.1 — when the URL is
saved and at delivery. And a host written as a number (2130706433, 0177.0.0.1, 0x7f.1,
0: what the C resolver reads as an IPv4 address) is refused when the URL is saved, in the
admin and by `crm_account`, saying why."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from accounts.models import CRMSettings
from accounts.validators import validate_webhook_url
from exports.alerts.delivery import DeliveryError, post_webhook
from tests.admin.conftest import change_url, settings_post

EMBEDDING_INTERNAL = {
    "NAT64 of 127.0.0.1": ("64:ff9b::7f00:1", "127.0.0.1"),
    "NAT64 of the metadata service": ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
    "6to4 of 127.0.0.1": ("2002:7f00:1::", "127.0.0.1"),
    "6to4 of 10.0.0.7": ("2002:a00:7::1", "10.0.0.7"),
    "IPv4-compatible 127.0.0.1": ("::7f00:1", "127.0.0.1"),
    "IPv4-compatible 192.168.1.1": ("::c0a8:101", "192.168.1.1"),
    "Teredo to client 127.0.0.1": ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
    "IPv4-mapped 10.0.0.7": ("::ffff:a00:7", "10.0.0.7"),
}


@pytest.mark.parametrize(
    ("address", "ipv4"), EMBEDDING_INTERNAL.values(), ids=EMBEDDING_INTERNAL.keys()
)
def test_saving_a_url_whose_address_embeds_an_internal_ipv4_is_refused(address, ipv4):
    with pytest.raises(ValidationError) as refused:
        validate_webhook_url(f"https://[{address}]/hook")

    assert "private, loopback or link-local" in str(refused.value)
    assert ipv4 in str(refused.value)


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::", "::7f00:1"])
def test_delivery_to_such_an_address_is_refused_before_any_request(address):
    with pytest.raises(DeliveryError) as refused:
        post_webhook(f"https://[{address}]:9/hook", "secret", b"{}")

    assert refused.value.permanent
    assert "private, loopback or link-local" in str(refused.value)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700:4700::1111"])
def test_public_addresses_and_public_embedded_ones_are_taken(address):
    validate_webhook_url(f"https://[{address}]/hook")


NUMERIC_HOSTS = [
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0/",
    "http://0x7f.1/",
    "https://127.1/hook",
    "https://0x7f000001/hook",
    "https://017700000001/hook",
]


@pytest.mark.parametrize("url", NUMERIC_HOSTS)
def test_a_numeric_host_is_refused_saying_why(url, settings):
    settings.CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS = True  # refused even so

    with pytest.raises(ValidationError) as refused:
        validate_webhook_url(url)

    assert "is a number" in str(refused.value)


@pytest.mark.django_db
@pytest.mark.parametrize("url", NUMERIC_HOSTS[:4])
def test_crm_account_refuses_a_numeric_host(url, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "whsec-numeric")

    with pytest.raises(CommandError) as refused:
        call_command(
            "crm_account", "create", "acme", "--alert-webhook", url,
            "--alert-webhook-secret-env", "HOOK_SECRET", stdout=io.StringIO(),
        )  # fmt: skip

    assert refused.value.returncode == 2
    assert "--alert-webhook:" in str(refused.value) and "is a number" in str(refused.value)
    assert not CRMSettings.objects.filter(account__slug="acme").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://2130706433/", "https://[64:ff9b::7f00:1]/hook"])
def test_the_admin_refuses_them_saying_why(url, super_client, crm_settings):
    data = settings_post(crm_settings, alert_webhook_url=url, alert_webhook_secret="whsec-x")

    response = super_client.post(change_url(crm_settings), data)

    assert response.status_code == 200
    page = response.content.decode()
    assert "is a number" in page or "embeds 127.0.0.1" in page
    crm_settings.refresh_from_db()
    assert crm_settings.alert_webhook_url == ""
