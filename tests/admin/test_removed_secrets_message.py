"""The warning after a save that removed stored secrets (a changed login URL) is grammatical:
one secret "was removed" and is typed again as "it", two "were removed", "them"."""

from __future__ import annotations

import pytest

from tests.admin.conftest import change_url, settings_post
from tests.factories import CRMSettingsFactory

pytestmark = pytest.mark.django_db

ELSEWHERE = "https://test.salesforce.com"


def warnings_after_moving(client, **secrets: str) -> list[str]:
    stored = {"client_secret": "", "private_key": "", "password": "", **secrets}
    settings = CRMSettingsFactory(account__slug="acme", account__name="acme", **stored)
    response = client.post(
        change_url(settings), settings_post(settings, login_url=ELSEWHERE), follow=True
    )
    return [str(m) for m in response.context["messages"] if m.level_tag == "warning"]


def test_one_removed_secret_was_removed(super_client):
    [warning] = warnings_after_moving(super_client, client_secret="s3cret")

    assert warning.startswith("The stored client secret of acme was removed: the login URL")
    assert warning.endswith("Type it again.")


def test_two_removed_secrets_were_removed(super_client):
    [warning] = warnings_after_moving(super_client, client_secret="s3cret", password="pw")

    assert warning.startswith("The stored client secret and password of acme were removed:")
    assert warning.endswith("Type them again.")
