"""With the production HTTPS settings (DJANGO_HTTPS: SECURE_SSL_REDIRECT), a plain http://
request to the intake is redirected to https:// by Django's SecurityMiddleware and enqueues
nothing; over https:// (the proxy's X-Forwarded-Proto) it is taken. It needs no CSRF token."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.intake.conftest import NDJSON, ndjson, outbox, record, url

pytestmark = pytest.mark.django_db


def test_http_is_redirected_and_https_is_taken(account, token, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client(enforce_csrf_checks=True)  # made after the change: its middleware reads it
    headers = {"Authorization": f"Bearer {token}"}

    plain = client.post(url("acme"), ndjson([record(1)]), content_type=NDJSON, headers=headers)
    secure = client.post(
        url("acme"),
        ndjson([record(2)]),
        content_type=NDJSON,
        headers={**headers, "X-Forwarded-Proto": "https"},
    )

    assert plain.status_code == 301
    assert plain["Location"].startswith("https://")
    assert secure.status_code == 201
    assert outbox(account) == ["person-2"]
