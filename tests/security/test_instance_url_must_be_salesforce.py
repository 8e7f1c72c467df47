"""The `instance_url` a login answers is checked like the login URL before any call goes
there: a listed login host that answers with an internal service's address gets nothing
sent to that service, and nothing of it is shown."""

from __future__ import annotations

import pytest

from salesforce.client import AuthError, Gateway
from salesforce.login_hosts import parse_extra_hosts
from tests.factories import CRMSettingsFactory
from tests.security.listeners import INTERNAL_SECRET, internal_service, json_answer, listening


@pytest.mark.django_db
def test_an_instance_url_outside_the_allowed_hosts_gets_no_call(settings, tmp_path) -> None:
    tls = tmp_path / "tls"
    with listening(internal_service, tls_dir=tls) as internal:  # HTTPS, trusted CA

        def login(seen):
            body = f'{{"access_token": "tok", "instance_url": "{internal.url}"}}'
            return json_answer(200, body)

        with listening(login, tls_dir=tls) as evil:
            settings.CRMSYNC_EXTRA_LOGIN_HOSTS = parse_extra_hosts(evil.host_port)
            crm = CRMSettingsFactory(login_url=evil.url, ca_bundle=str(evil.ca_path))

            with pytest.raises(AuthError) as refused:
                Gateway(crm).check_connection()

            assert [s.path for s in evil.seen] == ["/services/oauth2/token"]
            assert internal.seen == []
    assert refused.value.code == "INSTANCE_HOST_REFUSED"
    assert "instance URL that is not a Salesforce host" in refused.value.message
    assert INTERNAL_SECRET not in refused.value.message
