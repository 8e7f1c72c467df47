"""Under the web server `make run` starts (gunicorn), the admin's CSS and the CRM settings
page's script are served: 200, the right content type, compressed, hashed names cached."""

from __future__ import annotations

import re

import pytest
import requests

from tests.admin.conftest import USER_PASSWORD, change_url
from tests.factories import CRMSettingsFactory

pytestmark = pytest.mark.django_db(transaction=True)

STATIC_URL = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def logged_in(base_url: str, username: str) -> requests.Session:
    """A session logged in through the admin's own login form."""
    session = requests.Session()
    session.trust_env = False
    session.get(f"{base_url}/admin/login/", timeout=10).raise_for_status()
    answer = session.post(
        f"{base_url}/admin/login/?next=/admin/",
        data={
            "username": username,
            "password": USER_PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base_url}/admin/login/"},
        timeout=10,
    )
    assert answer.ok and "/admin/login/" not in answer.url, "login failed"
    return session


def static_urls(html: str, name: str) -> list[str]:
    return [url for url in STATIC_URL.findall(html) if name in url]


def test_admin_css_and_crm_settings_script_are_served(web_server, superuser):
    settings = CRMSettingsFactory(export_enabled=True)
    session = logged_in(web_server.url, superuser.username)
    page = session.get(f"{web_server.url}{change_url(settings)}", timeout=10)
    assert page.status_code == 200

    css = static_urls(page.text, "admin/css/base")
    script = static_urls(page.text, "accounts/crm_settings")
    # Hashed names from collectstatic's manifest: base.<hash>.css, crm_settings.<hash>.js.
    assert css and re.search(r"base\.[0-9a-f]{12}\.css$", css[0]), css
    assert script and re.search(r"crm_settings\.[0-9a-f]{12}\.js$", script[0]), script

    for url, content_type, text in (
        (css[0], "text/css", "--body-fg"),
        (script[0], "text/javascript", "crm-settings-config"),
    ):
        answer = session.get(
            f"{web_server.url}{url}", headers={"Accept-Encoding": "gzip"}, timeout=10
        )
        assert answer.status_code == 200, url
        assert answer.headers["Content-Type"].startswith(content_type), answer.headers
        assert answer.headers.get("Content-Encoding") == "gzip"
        assert "immutable" in answer.headers.get("Cache-Control", "")
        assert text in answer.text

    # The unhashed name works too (a bookmarked or hand-typed URL), just not cached for ever.
    plain = requests.get(f"{web_server.url}/static/accounts/crm_settings.js", timeout=10)
    assert plain.status_code == 200
    assert plain.headers["Content-Type"].startswith("text/javascript")
