"""Fixtures for the admin tests: users, CRM settings with known secrets, the broker, a browser.

Browser tests drive Debian's Chromium (/usr/bin/chromium) through Playwright against the
web server `make run` starts: gunicorn with WhiteNoise after `collectstatic`
(`web_server`, tests/web_server.py), on the test database. Pages are 1280 px wide. Without
Chromium they fail under CI=true and skip loudly elsewhere, like the other real-service
tests (tests/services.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission, User
from django.test import Client

from accounts.models import CRMSettings
from exports.models import ExportCursor, ExportError, ExportRecord
from tests.factories import CRMSettingsFactory, ExportCursorFactory
from tests.services import missing
from tests.web_server import WebServer

# Known secrets: no admin page may ever contain them.
CLIENT_SECRET = "cs-7Hq2-never-rendered"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\npk-Zr81-never-rendered\n-----END PRIVATE KEY-----"
PASSWORD = "pw-Lx55-never-rendered"
SECRETS = (CLIENT_SECRET, "pk-Zr81-never-rendered", PASSWORD)

USER_PASSWORD = "correct-horse-battery"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def crm_settings(db: None) -> CRMSettings:
    """An account with Export to CRM on, pause on, and all three secrets stored."""
    return CRMSettingsFactory(
        export_enabled=True,
        pause_on_export_errors=True,
        client_secret=CLIENT_SECRET,
        private_key=PRIVATE_KEY,
        password=PASSWORD,
        username="integration@example.com",
    )


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("root", "root@example.com", USER_PASSWORD)


@pytest.fixture
def viewer(db: None) -> User:
    """Staff with the view permission on every model of accounts and exports, nothing else."""
    user = User.objects.create_user("viewer", "viewer@example.com", USER_PASSWORD, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["accounts", "exports"], codename__startswith="view_"
        )
    )
    return user


@pytest.fixture
def super_client(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


def settings_post(settings: CRMSettings, **changes: Any) -> dict[str, str]:
    """The POST a browser sends from the CRM settings page, with `changes` applied.

    Booleans are checkboxes (absent when False); secrets are empty (= keep) unless changed.
    """
    values: dict[str, Any] = {
        "export_enabled": settings.export_enabled,
        "pause_on_export_errors": settings.pause_on_export_errors,
        "pause_on_export_errors_shown": settings.export_enabled,
        "batch_size": settings.batch_size,
        "max_records_per_run": settings.max_records_per_run,
        "login_url": settings.login_url,
        "auth_flow": settings.auth_flow,
        "client_id": settings.client_id,
        "username": settings.username,
        "client_secret": "",
        "private_key": "",
        "password": "",
        "ca_bundle": settings.ca_bundle,
        "api_version": settings.api_version,
        "timeout_seconds": settings.timeout_seconds,
        "daily_api_limit": settings.daily_api_limit,
        "alert_emails": settings.alert_emails,
        "alert_webhook_url": settings.alert_webhook_url,
        "alert_webhook_secret": "",
        "still_paused_after_hours": settings.still_paused_after_hours,
        "error_spike_per_hour": settings.error_spike_per_hour,
        "error_spike_percent": settings.error_spike_percent,
        "_save": "Save",
    }
    values.update(changes)
    data: dict[str, str] = {}
    for name, value in values.items():
        if value is True:
            data[name] = "on"
        elif value is not False and value is not None:
            data[name] = str(value)
    return data


def change_url(settings: CRMSettings) -> str:
    return f"/admin/accounts/crmsettings/{settings.pk}/change/"


def pause_at(record: ExportRecord, error: ExportError, last_exported: ExportRecord) -> ExportCursor:
    """The cursor of `record`'s account, paused at `record` by `error` since
    2025-03-01 12:30 UTC, everything up to `last_exported` exported."""
    return ExportCursorFactory(
        account=record.account,
        state=ExportCursor.State.PAUSED,
        last_exported_id=last_exported.id,
        paused_record=record,
        paused_since=datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
        last_error_code=error.error_code,
        last_error_message=error.message,
    )


class PublishedTasks:
    """Every task message Celery publishes while the fixture is active: (name, args, kwargs).

    Listens to Celery's own `before_task_publish` signal; the message still goes to the
    broker as usual. Used to prove that a refused request published nothing.
    """

    def __init__(self) -> None:
        self.tasks: list[tuple[str, list[Any], dict[str, Any]]] = []

    def record(self, sender: str | None = None, body: Any = None, **kwargs: Any) -> None:
        args, task_kwargs, _embed = body
        self.tasks.append((str(sender), list(args), dict(task_kwargs)))


@pytest.fixture
def published_tasks() -> Iterator[PublishedTasks]:
    published = PublishedTasks()
    before_task_publish.connect(published.record, weak=False)
    yield published
    before_task_publish.disconnect(published.record)


# --- Browser --------------------------------------------------------------------------------


def require_chromium() -> None:
    """Fail under CI=true, skip loudly elsewhere, when Debian's Chromium is missing."""
    if CHROMIUM.exists():
        return
    missing(
        f"Chromium is not installed at {CHROMIUM}",
        what="browser test",
        remedy="apt-get install -y chromium chromium-driver",
    )


VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture
def page(web_server: WebServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Playwright page in headless Chromium, 1280 px wide, its base URL gunicorn's."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread, so Django's
    # async-safety check would refuse the test's own ORM calls; they are plain synchronous
    # code between browser steps (gunicorn answers from its own processes).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(base_url=web_server.url, viewport=VIEWPORT)
        browser_page = context.new_page()
        browser_page.set_default_timeout(10_000)
        try:
            yield browser_page
        finally:
            context.close()
            browser.close()


def log_in(page: Any, username: str, password: str = USER_PASSWORD) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert "/admin/login/" not in page.url, f"login as {username} failed"


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot for a person to look at, in `test-artifacts/` of the var
    directory (var/ unless CRMSYNC_VAR_DIR says otherwise; git-ignored): a test run leaves
    the working tree as it found it."""
    folder = django_settings.VAR_DIR / "test-artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
