"""`crm_replay` shows every request and answer except the login's: the login request is
marked as such whatever its URL, so neither its form (client secret) nor its answer
(access token) is printed — with a query string in the stored login URL, or when the
login is answered with a redirect."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from salesforce.login_hosts import parse_extra_hosts
from tests.factories import CRMSettingsFactory, ExportRecordFactory
from tests.security.listeners import json_answer, listening

SECRET = "replay-client-secret-Lm20"
TOKEN = "replay-access-token-Vb55"


def replay(account_slug: str, record_id: int) -> str:
    out = io.StringIO()
    try:
        call_command("crm_replay", "--account", account_slug, "--record", str(record_id),
                     stdout=out, stderr=io.StringIO())  # fmt: skip
    except CommandError as failed:
        out.write(f"\nCommandError: {failed}")
    return out.getvalue()


@pytest.mark.django_db
def test_a_query_string_in_the_login_url_shows_no_secret(sandbox) -> None:
    crm = CRMSettingsFactory(  # a row from before the login URL rule (saved around the form)
        login_url=f"{sandbox.url}/?next=", ca_bundle=str(sandbox.ca_path), client_secret=SECRET
    )
    record = ExportRecordFactory(account=crm.account)

    shown = replay(crm.account.slug, record.id)

    assert SECRET not in shown and "client_secret" not in shown
    assert "login URL" in shown


@pytest.mark.django_db
def test_a_redirected_login_shows_no_form_and_no_token(settings, tmp_path) -> None:
    tls = tmp_path / "tls"
    state = {}

    def token_anywhere(seen):  # answers a login on any path, and echoes nothing else
        return json_answer(200, f'{{"access_token": "{TOKEN}", "instance_url": "{state["b"]}"}}')

    with listening(token_anywhere, tls_dir=tls) as target:
        state["b"] = target.url

        def redirect(seen):
            return 307, {"Location": f"{target.url}/oauth/token?via=redirect"}, b""

        with listening(redirect, tls_dir=tls) as login:
            settings.CRMSYNC_EXTRA_LOGIN_HOSTS = parse_extra_hosts(
                f"{login.host_port},{target.host_port}"
            )
            crm = CRMSettingsFactory(
                login_url=login.url, ca_bundle=str(login.ca_path), client_secret=SECRET
            )
            record = ExportRecordFactory(account=crm.account)

            shown = replay(crm.account.slug, record.id)

    assert SECRET not in shown and "client_secret" not in shown
    assert TOKEN not in shown
    assert "(login; form and answer not shown)" in shown
