"""What "Test connection" says about a failed login or check is crmsync's own fixed text
plus Salesforce's error code when the answer has Salesforce's error shape — never the
remote body, `error_description` or `message` (a listed host's answer included)."""

from __future__ import annotations

import pytest

from salesforce.login_hosts import parse_extra_hosts
from tests.factories import CRMSettingsFactory
from tests.security.listeners import json_answer, listening

MARKER = "remote-text-Wq93"
TOKEN = '{"access_token": "tok", "instance_url": "INSTANCE"}'


def answers(login, limits=None):
    """A server whose token endpoint answers `login`, and every other path `limits`."""
    state = {}

    def respond(seen):
        if seen.path == "/services/oauth2/token":
            status, headers, body = login
            return status, headers, body.replace(b"INSTANCE", state["url"].encode())
        return limits

    return state, respond


CASES = {
    "OAuth error": (
        json_answer(400, f'{{"error": "invalid_grant", "error_description": "{MARKER}"}}'),
        None,
        "): invalid_grant. Check the client id",
    ),
    "not JSON": (
        (401, {"Content-Type": "text/html"}, f"<h1>{MARKER}</h1>".encode()),
        None,
        "did not answer like a Salesforce login endpoint (HTTP 401)",
    ),
    "limits, Salesforce error": (
        json_answer(200, TOKEN),
        json_answer(403, f'[{{"errorCode": "API_DISABLED_FOR_ORG", "message": "{MARKER}"}}]'),
        "(API_DISABLED_FOR_ORG)",
    ),
    "limits, any body": (
        json_answer(200, TOKEN),
        (418, {"Content-Type": "text/plain"}, MARKER.encode() * 20),
        "Salesforce refused GET limits",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize(("login", "limits", "expected"), CASES.values(), ids=CASES.keys())
def test_only_our_words_and_the_error_code_are_shown(
    super_client, settings, tmp_path, login, limits, expected
) -> None:
    state, respond = answers(login, limits)
    with listening(respond, tls_dir=tmp_path / "tls") as remote:
        state["url"] = remote.url
        settings.CRMSYNC_EXTRA_LOGIN_HOSTS = parse_extra_hosts(remote.host_port)
        crm = CRMSettingsFactory(login_url=remote.url, ca_bundle=str(remote.ca_path))

        response = super_client.post(
            f"/admin/accounts/crmsettings/{crm.pk}/test-connection/", follow=True
        )

    assert MARKER not in response.content.decode()
    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("Connection failed: ")
    assert expected in message
