"""No redirect is ever followed: a login answered with a 307 to http:// does not send the
client secret again (in clear text) to where it points, and an API call answered with a
redirect goes no further. Either is an error that names the host it pointed to."""

from __future__ import annotations

import pytest

from salesforce.client import AuthError, Gateway
from salesforce.login_hosts import parse_extra_hosts
from tests.factories import CRMSettingsFactory
from tests.security.listeners import internal_service, json_answer, listening

SECRET = "client-secret-Rd07"


def redirect_to(url: str, token: str | None = None):
    """Answers the login with `token` (the listener's own URL as instance), or else a 307;
    answers everything else with a 302 (both to `url`)."""
    state = {}

    def respond(seen):
        if seen.path == "/services/oauth2/token" and token:
            return json_answer(200, token.replace("SELF", state["url"]))
        status = 307 if seen.path == "/services/oauth2/token" else 302
        return status, {"Location": f"{url}{seen.path}"}, b""

    return state, respond


@pytest.mark.django_db
@pytest.mark.parametrize("what", ["login", "api call"])
def test_a_redirect_is_an_error_and_nothing_follows_it(settings, tmp_path, what) -> None:
    with listening(internal_service) as catcher:  # plain http://
        token = '{"access_token": "tok", "instance_url": "SELF"}' if what == "api call" else None
        state, respond = redirect_to(catcher.url, token)
        with listening(respond, tls_dir=tmp_path / "tls") as remote:
            state["url"] = remote.url
            # Both listed: only the redirect rule is left to stop the request.
            settings.CRMSYNC_EXTRA_LOGIN_HOSTS = parse_extra_hosts(
                f"{remote.host_port},{catcher.host_port}"
            )
            crm = CRMSettingsFactory(
                login_url=remote.url, ca_bundle=str(remote.ca_path), client_secret=SECRET
            )

            with pytest.raises(AuthError) as refused:
                Gateway(crm).check_connection()

        assert catcher.seen == []
    assert SECRET.encode() not in catcher.everything_received()
    assert refused.value.code == "REDIRECT"
    assert "redirect" in refused.value.message and "to host 127.0.0.1" in refused.value.message
    assert SECRET not in refused.value.message
