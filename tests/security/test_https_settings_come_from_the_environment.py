"""Behind a TLS-terminating proxy the admin works and stays on HTTPS: production's
settings (from the environment) make cookies Secure, send HSTS, redirect http://, trust the
proxy's X-Forwarded-Proto and the origins listed in DJANGO_CSRF_TRUSTED_ORIGINS, so an
admin POST relayed by the proxy passes Django's CSRF origin check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.security.test_check_deploy_passes_in_production import REPO, production_env

PRINT = (
    "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps("
    "[s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
    "s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.CSRF_TRUSTED_ORIGINS]))"
)


def settings_of(env: dict[str, str]) -> list:
    env = env | {"DJANGO_SETTINGS_MODULE": "crmsync.settings"}
    process = subprocess.run([sys.executable, "-c", PRINT], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout)


def test_production_defaults_and_variables(tmp_path: Path) -> None:
    origins = "https://crm.example.com,https://crm2.example.com"

    values = settings_of(production_env(tmp_path, DJANGO_CSRF_TRUSTED_ORIGINS=origins))

    assert values == [
        True, True, True, 31_536_000, ["HTTP_X_FORWARDED_PROTO", "https"],
        ["https://crm.example.com", "https://crm2.example.com"],
    ]  # fmt: skip


def test_a_development_machine_serves_plain_http(tmp_path: Path) -> None:
    values = settings_of(production_env(tmp_path, CRMSYNC_DEV="1"))

    assert values == [False, False, False, 0, None, []]


@pytest.mark.django_db
def test_an_admin_post_through_the_proxy_passes_the_origin_check(settings) -> None:
    settings.ALLOWED_HOSTS = ["crm.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    User.objects.create_superuser("root", "root@example.com", "pw-for-the-proxy-test")
    browser = Client(enforce_csrf_checks=True)
    proxied = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "crm.example.com"}

    page = browser.get("/admin/login/", **proxied)
    token = page.cookies["csrftoken"].value
    login = browser.post(
        "/admin/login/?next=/admin/",
        {"username": "root", "password": "pw-for-the-proxy-test", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="https://crm.example.com",
        **proxied,
    )

    assert page.status_code == 200 and page.cookies["csrftoken"]["secure"]
    assert login.status_code == 302 and login["Location"] == "/admin/"
    assert browser.get("/admin/", HTTP_HOST="crm.example.com").status_code == 301  # to https
