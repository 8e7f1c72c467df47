"""`/metrics` lists every tenant's slug, backlog, paused state and error codes, so it is
closed until it is configured: a scrape brings `Authorization: Bearer
<CRMSYNC_METRICS_TOKEN>`, or CRMSYNC_METRICS_ALLOW_LOOPBACK lets a client on this host in
without one. Behind a reverse proxy on the same host every request comes from 127.0.0.1,
so a request carrying a proxy's header (X-Forwarded-For, Forwarded, X-Real-IP,
X-Forwarded-Proto, Via, or the header SECURE_PROXY_SSL_HEADER names) is never "loopback"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.security.test_check_deploy_passes_in_production import REPO, production_env

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token"


def get(remote: str = "127.0.0.1", **headers: str):
    return Client().get("/metrics", REMOTE_ADDR=remote, **headers)


def test_a_loopback_request_is_refused_without_token_or_switch(settings):
    settings.CRMSYNC_METRICS_TOKEN = ""
    settings.CRMSYNC_METRICS_ALLOW_LOOPBACK = False

    response = get()

    assert response.status_code == 403
    text = response.content.decode()
    assert "CRMSYNC_METRICS_TOKEN" in text and "CRMSYNC_METRICS_ALLOW_LOOPBACK" in text
    assert "crmsync_" not in text  # no data


@pytest.mark.parametrize(
    "proxied",
    [
        {"HTTP_X_FORWARDED_PROTO": "https"},
        {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"HTTP_FORWARDED": "for=203.0.113.9"},
        {"HTTP_X_REAL_IP": "203.0.113.9"},
        {"HTTP_VIA": "1.1 proxy"},
        {"HTTP_X_SCHEME": "https"},  # the header SECURE_PROXY_SSL_HEADER names, whatever it is
    ],
    ids=["x-forwarded-proto", "x-forwarded-for", "forwarded", "x-real-ip", "via", "ssl-header"],
)
def test_a_request_through_a_same_host_proxy_is_refused_even_with_the_switch(settings, proxied):
    settings.CRMSYNC_METRICS_TOKEN = ""
    settings.CRMSYNC_METRICS_ALLOW_LOOPBACK = True
    header = "HTTP_X_SCHEME" if "HTTP_X_SCHEME" in proxied else "HTTP_X_FORWARDED_PROTO"
    settings.SECURE_PROXY_SSL_HEADER = (header, "https")

    response = get(**proxied)

    assert response.status_code == 403
    assert "crmsync_" not in response.content.decode()


def test_the_switch_lets_a_direct_loopback_client_in(settings):
    settings.CRMSYNC_METRICS_TOKEN = ""
    settings.CRMSYNC_METRICS_ALLOW_LOOPBACK = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    assert get().status_code == 200
    assert get("::1").status_code == 200
    assert get("10.0.0.8").status_code == 403  # not loopback


@pytest.mark.parametrize("allow_loopback", [False, True])
def test_the_token_works_from_anywhere_and_only_the_right_one(settings, allow_loopback):
    settings.CRMSYNC_METRICS_TOKEN = TOKEN
    settings.CRMSYNC_METRICS_ALLOW_LOOPBACK = allow_loopback
    proxied = {"HTTP_X_FORWARDED_FOR": "203.0.113.9", "HTTP_X_FORWARDED_PROTO": "https"}

    good = get("127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **proxied)
    remote = get("203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    wrong = get("127.0.0.1", HTTP_AUTHORIZATION="Bearer wrong", **proxied)
    prefix = get("127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {TOKEN[:-1]}", **proxied)
    missing = get("127.0.0.1", **proxied)

    assert (good.status_code, remote.status_code) == (200, 200)
    assert b"crmsync_backlog_records" in good.content
    assert (wrong.status_code, prefix.status_code, missing.status_code) == (403, 403, 403)
    assert b"Authorization: Bearer" in missing.content


def test_a_token_alone_closes_loopback(settings):
    settings.CRMSYNC_METRICS_TOKEN = TOKEN
    settings.CRMSYNC_METRICS_ALLOW_LOOPBACK = False

    assert get().status_code == 403


METRICS_VARS = "CRMSYNC_METRICS_"
PRINT = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.CRMSYNC_METRICS_TOKEN, s.CRMSYNC_METRICS_ALLOW_LOOPBACK]))"
)


def metrics_settings(tmp_path: Path, **extra: str) -> list:
    env = {k: v for k, v in production_env(tmp_path).items() if not k.startswith(METRICS_VARS)}
    env |= {"DJANGO_SETTINGS_MODULE": "crmsync.settings", **extra}
    process = subprocess.run([sys.executable, "-c", PRINT], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout)


def test_closed_unless_the_environment_opens_it(tmp_path: Path):
    assert metrics_settings(tmp_path) == ["", False]
    assert metrics_settings(tmp_path, CRMSYNC_DEV="1") == ["", False]
    opened = {"CRMSYNC_METRICS_TOKEN": f" {TOKEN} ", "CRMSYNC_METRICS_ALLOW_LOOPBACK": "1"}
    assert metrics_settings(tmp_path, **opened) == [TOKEN, True]
