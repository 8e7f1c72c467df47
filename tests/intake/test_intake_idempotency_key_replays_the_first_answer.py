"""An Idempotency-Key: the same key with the same body within 24 hours gets the first answer
again (status and JSON, `Idempotent-Replayed: true`) and enqueues nothing twice; with another
body it is 422 and enqueues nothing. Keys are per account, expire after 24 hours, and a
refused request does not take its key."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import intake_tokens
from exports.intake import replies
from exports.intake.models import IntakeReply
from tests.factories import AccountFactory
from tests.intake.conftest import ndjson, outbox, post, record

pytestmark = pytest.mark.django_db

KEY = "5f0c6f7e-8f5b-4c8e-9d57-2f6a1c0b9e11"
BODY = ndjson([record(1), record(2)])


def test_the_same_key_and_body_get_the_first_answer_and_enqueue_once(api, account, token):
    first = post(api, "acme", BODY, token, **{"Idempotency-Key": KEY})
    again = post(api, "acme", BODY, token, **{"Idempotency-Key": KEY})
    third = post(api, "acme", BODY, token, **{"Idempotency-Key": KEY})

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    for replay in (again, third):
        assert replay.status_code == first.status_code
        assert replay.json() == first.json()
        assert replay["Idempotent-Replayed"] == "true"
    assert outbox(account) == ["person-1", "person-2"]


def test_without_a_key_the_same_body_is_enqueued_again(api, account, token):
    post(api, "acme", BODY, token)
    post(api, "acme", BODY, token)

    assert outbox(account) == ["person-1", "person-2"] * 2


def test_the_same_key_with_another_body_is_422_and_enqueues_nothing(api, account, token):
    post(api, "acme", BODY, token, **{"Idempotency-Key": KEY})

    other = post(api, "acme", ndjson([record(3)]), token, **{"Idempotency-Key": KEY})
    as_json = post(
        api,
        "acme",
        json.dumps([record(1), record(2)]),
        token,
        content_type="application/json",
        **{"Idempotency-Key": KEY},
    )

    for refused in (other, as_json):
        assert refused.status_code == 422, refused.content
        assert refused.json()["error"] == "idempotency_key_reused"
        assert KEY in refused.json()["message"] and "another body" in refused.json()["message"]
    assert outbox(account) == ["person-1", "person-2"]


def test_keys_are_per_account(api, account, token):
    globex = AccountFactory(slug="globex")
    globex_token = intake_tokens.make(globex, created_by="test")

    post(api, "acme", BODY, token, **{"Idempotency-Key": KEY})
    theirs = post(api, "globex", ndjson([record(9)]), globex_token, **{"Idempotency-Key": KEY})

    assert theirs.status_code == 201
    assert outbox(globex) == ["person-9"]


def test_a_refused_request_does_not_take_its_key(api, account, token):
    bad = post(api, "acme", ndjson([{"sobject": "Contact"}]), token, **{"Idempotency-Key": KEY})
    fixed = post(api, "acme", BODY, token, **{"Idempotency-Key": KEY})

    assert bad.status_code == 400
    assert fixed.status_code == 201
    assert outbox(account) == ["person-1", "person-2"]


def test_a_key_older_than_24_hours_is_forgotten(api, account, token):
    post(api, "acme", BODY, token, **{"Idempotency-Key": KEY})
    IntakeReply.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    later = post(api, "acme", ndjson([record(3)]), token, **{"Idempotency-Key": KEY})

    assert later.status_code == 201 and "Idempotent-Replayed" not in later
    assert outbox(account) == ["person-1", "person-2", "person-3"]
    assert IntakeReply.objects.get().answer == later.json()


def test_expired_answers_are_deleted_by_later_keyed_requests(api, account, token):
    post(api, "acme", BODY, token, **{"Idempotency-Key": "old-1"})
    post(api, "acme", BODY, token, **{"Idempotency-Key": "old-2"})
    IntakeReply.objects.update(created_at=timezone.now() - timedelta(hours=25))

    post(api, "acme", ndjson([record(3)]), token, **{"Idempotency-Key": "new"})

    assert list(IntakeReply.objects.values_list("key", flat=True)) == ["new"]
    assert replies.forget_expired() == 0


@pytest.mark.parametrize("key", ["", "a" * 256, "with space", "naïve"])
def test_a_malformed_key_is_400(api, account, token, key):
    answer = post(api, "acme", BODY, token, **{"Idempotency-Key": key})

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_idempotency_key"
    assert outbox(account) == []
