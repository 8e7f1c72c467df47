"""The intake needs the account's own token: none, a wrong, a revoked or a replaced token is
401; another account's valid token is 403, the same answer whether the account in the URL
exists or not. A refused request enqueues nothing."""

from __future__ import annotations

import pytest

from accounts import intake_tokens
from exports.models import ExportRecord
from tests.factories import AccountFactory
from tests.intake.conftest import ndjson, outbox, post, record

pytestmark = pytest.mark.django_db

BODY = ndjson([record(1)])


def assert_unauthorized(answer, message_part: str) -> None:
    assert answer.status_code == 401, answer.content
    assert answer["WWW-Authenticate"] == 'Bearer realm="crmsync intake"'
    assert answer.json()["error"] == "unauthorized"
    assert message_part in answer.json()["message"]


def test_no_token_is_401(api, account):
    assert_unauthorized(post(api, "acme", BODY, None), "Authorization: Bearer")
    assert_unauthorized(post(api, "acme", BODY, None, Authorization="Basic dXNlcjpwdw=="), "Bearer")
    assert_unauthorized(post(api, "acme", BODY, None, Authorization="Bearer "), "Bearer")
    assert outbox(account) == []


def test_wrong_token_is_401(api, account, token):
    assert_unauthorized(post(api, "acme", BODY, token + "x"), "not a valid intake token")
    assert_unauthorized(post(api, "acme", BODY, "crmsync_" + "A" * 43), "not a valid")
    assert_unauthorized(post(api, "acme", BODY, "x" * 10_000), "not a valid")
    assert outbox(account) == []


def test_revoked_and_replaced_tokens_are_401(api, account, token):
    assert post(api, "acme", BODY, token).status_code == 201

    newer = intake_tokens.make(account, created_by="test")
    assert_unauthorized(post(api, "acme", ndjson([record(2)]), token), "not a valid")
    intake_tokens.revoke(account)
    assert_unauthorized(post(api, "acme", ndjson([record(3)]), newer), "not a valid")
    assert outbox(account) == ["person-1"]


def test_another_accounts_token_is_403_whether_or_not_the_account_exists(api, account, token):
    globex = AccountFactory(slug="globex")

    existing = post(api, "globex", BODY, token)
    missing = post(api, "no-such-account", BODY, token)

    assert existing.status_code == missing.status_code == 403
    assert existing.json() == missing.json()
    assert existing.json()["error"] == "forbidden"
    assert "globex" not in existing.content.decode()
    assert not ExportRecord.objects.filter(account=globex).exists()
    assert outbox(account) == []


def test_an_unknown_account_without_a_valid_token_is_401_like_a_known_one(api, account):
    known = post(api, "acme", BODY, "crmsync_wrong")
    unknown = post(api, "no-such-account", BODY, "crmsync_wrong")

    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()


def test_the_token_is_stored_only_as_its_sha256(account, token):
    stored = account.intake_token
    assert stored.digest == intake_tokens.digest(token)
    assert token not in str(stored.__dict__)
    assert len(token) >= 40 and token.startswith("crmsync_")
