"""Server-side request forgery through the login URL is closed: "Test connection" on
settings that point outside Salesforce and CRMSYNC_EXTRA_LOGIN_HOSTS (a row saved before
the rule, or written around the form) contacts nothing at all — not a hostile HTTPS
server, not an internal HTTP service, not a closed port — and says the same fixed text
for each, so it cannot scan ports either. The sandbox's own port is listed in this
session; another 127.0.0.1 port is still refused."""

from __future__ import annotations

import pytest

from tests.factories import CRMSettingsFactory
from tests.processes import free_port
from tests.security.listeners import INTERNAL_SECRET, internal_service, json_answer, listening

CANARY = "canary-client-secret-Hx71"


def hostile(seen):
    return json_answer(
        200, '{"access_token": "t", "instance_url": "http://127.0.0.1:6379", "token_type": "x"}'
    )


def press_test_connection(client, crm) -> str:
    response = client.post(f"/admin/accounts/crmsettings/{crm.pk}/test-connection/", follow=True)
    assert response.status_code == 200
    [message] = [str(m) for m in response.context["messages"]]
    return message


@pytest.mark.django_db
def test_unlisted_hosts_are_never_contacted(super_client, sandbox, tmp_path) -> None:
    with (
        listening(hostile, tls_dir=tmp_path / "tls") as evil,
        listening(internal_service) as internal,
    ):
        targets = {
            "hostile https": evil.url,
            "internal http": internal.url.replace("http://", "https://"),
            "closed port": f"https://127.0.0.1:{free_port()}",
        }
        messages = {}
        for name, url in targets.items():
            crm = CRMSettingsFactory(
                login_url=url, ca_bundle=str(evil.ca_path), client_secret=CANARY
            )
            messages[name] = press_test_connection(super_client, crm).replace(
                f"account {crm.account_slug}", "account N"
            )

        assert evil.seen == [] and internal.seen == []
    assert len(set(messages.values())) == 1, messages  # nothing tells them apart
    message = messages["hostile https"]
    assert message.startswith("Connection failed: The login URL of account N is not a Salesforce")
    assert "Nothing was sent" in message
    assert INTERNAL_SECRET not in message and CANARY not in message
