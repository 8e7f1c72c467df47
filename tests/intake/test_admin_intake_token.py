"""Accounts › account: "Create / rotate intake token" confirms, then shows the new token once
(the old one stops working); "Revoke intake token" confirms, then revokes. No other page
shows the token; view-only staff cannot do either; each POST needs the CSRF token."""

from __future__ import annotations

import logging
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from accounts import intake_tokens
from tests.intake.conftest import ndjson, post, record

pytestmark = pytest.mark.django_db

TOKEN_ON_PAGE = re.compile(r'<code id="intake-token">(crmsync_[A-Za-z0-9_-]+)</code>')


def change_url(account) -> str:
    return f"/admin/accounts/account/{account.pk}/change/"


def rotate_url(account) -> str:
    return f"/admin/accounts/account/{account.pk}/intake-token/"


def revoke_url(account) -> str:
    return f"/admin/accounts/account/{account.pk}/intake-token/revoke/"


@pytest.fixture
def admin_client(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-12345678"))
    return client


def test_the_account_page_has_the_buttons_and_the_state(admin_client, account):
    page = admin_client.get(change_url(account)).content.decode()
    assert 'id="intake-token-rotate"' in page
    assert 'id="intake-token-revoke"' not in page  # nothing to revoke yet
    assert "Intake token:" in page and "none" in page

    intake_tokens.make(account, created_by="root")
    page = admin_client.get(change_url(account)).content.decode()
    assert 'id="intake-token-revoke"' in page
    assert "by root" in page


def test_create_shows_the_token_once_and_rotate_replaces_it(admin_client, api, account, caplog):
    caplog.set_level(logging.DEBUG)
    confirm = admin_client.get(rotate_url(account))
    assert confirm.status_code == 200 and 'id="intake-token-rotate-confirm"' in confirm.text

    shown = admin_client.post(rotate_url(account))

    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    first = TOKEN_ON_PAGE.search(shown.text).group(1)
    assert intake_tokens.find(first).account == account
    assert post(api, "acme", ndjson([record(1)]), first).status_code == 201
    for url in (
        change_url(account),
        rotate_url(account),
        revoke_url(account),
        "/admin/accounts/account/",
    ):
        assert first not in admin_client.get(url).text

    second = TOKEN_ON_PAGE.search(admin_client.post(rotate_url(account)).text).group(1)

    assert second != first
    assert post(api, "acme", ndjson([record(2)]), first).status_code == 401
    assert post(api, "acme", ndjson([record(2)]), second).status_code == 201
    assert first not in caplog.text and second not in caplog.text
    assert "new intake token for account acme made by root" in caplog.text


def test_revoke_confirms_then_revokes(admin_client, api, account, token):
    confirm = admin_client.get(revoke_url(account))
    assert confirm.status_code == 200 and 'id="intake-token-revoke-confirm"' in confirm.text
    assert token not in confirm.text

    done = admin_client.post(revoke_url(account), follow=True)

    assert done.redirect_chain[-1][0] == change_url(account)
    assert "was revoked" in done.text
    assert intake_tokens.find(token) is None
    assert post(api, "acme", ndjson([record(1)]), token).status_code == 401


def test_view_only_staff_can_neither_rotate_nor_revoke(account, token):
    viewer = User.objects.create_user("viewer", password="pw-12345678", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_account"))
    client = Client()
    client.force_login(viewer)

    assert 'id="intake-token-rotate"' not in client.get(change_url(account)).text
    for url in (rotate_url(account), revoke_url(account)):
        assert client.get(url).status_code == 403
        assert client.post(url).status_code == 403
    assert intake_tokens.find(token).account == account


def test_each_post_needs_the_csrf_token(account, token):
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-12345678"))

    for url in (rotate_url(account), revoke_url(account)):
        assert client.post(url).status_code == 403
    assert intake_tokens.find(token).account == account
