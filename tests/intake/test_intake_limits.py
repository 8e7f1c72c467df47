"""The intake's limits, each refusing before anything is enqueued, in JSON: a body over
CRMSYNC_INTAKE_MAX_BYTES or with more than CRMSYNC_INTAKE_MAX_RECORDS records is 413, a
Content-Type other than ndjson or JSON 415, a method other than POST 405, more than
CRMSYNC_INTAKE_RATE_PER_MINUTE requests of a token in a minute 429 with Retry-After, a
database that does not answer 503 with Retry-After, any other failure a 500 without a
traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from exports.intake import rate, replies
from exports.intake.views import records_view
from tests.intake.conftest import NDJSON, ndjson, outbox, post, record, url

pytestmark = pytest.mark.django_db


def test_a_body_over_the_byte_limit_is_413(api, account, token, settings):
    settings.CRMSYNC_INTAKE_MAX_BYTES = 1000
    body = ndjson([record(n) for n in range(20)])
    assert len(body) > 1000

    answer = post(api, "acme", body, token)

    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"
    assert answer.json()["max_bytes"] == 1000
    assert "CRMSYNC_INTAKE_MAX_BYTES" in answer.json()["message"]
    assert outbox(account) == []


def request_with(meta: dict[str, str], token: str, body: bytes) -> Any:
    request = RequestFactory().post(
        url("acme"), data=body, content_type=NDJSON, headers={"Authorization": f"Bearer {token}"}
    )
    request.META.update(meta)
    return records_view(request, "acme")


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(account, token, settings):
    settings.CRMSYNC_INTAKE_MAX_BYTES = 1000

    answer = request_with({"CONTENT_LENGTH": "1001"}, token, ndjson([record(1)]))

    assert answer.status_code == 413
    assert json.loads(answer.content)["error"] == "too_large"
    assert outbox(account) == []


def test_a_chunked_body_without_a_length_is_411(account, token):
    answer = request_with(
        {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"}, token, ndjson([record(1)])
    )

    assert answer.status_code == 411
    assert json.loads(answer.content)["error"] == "length_required"
    assert outbox(account) == []


def test_more_records_than_the_limit_is_413_naming_it(api, account, token, settings):
    settings.CRMSYNC_INTAKE_MAX_RECORDS = 3
    assert post(api, "acme", ndjson([record(n) for n in range(3)]), token).status_code == 201

    answer = post(api, "acme", ndjson([record(n) for n in range(4)]), token)

    assert answer.status_code == 413
    assert answer.json()["error"] == "too_many_records"
    assert answer.json()["max_records"] == 3
    assert "3 records" in answer.json()["message"]
    assert len(outbox(account)) == 3


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/x-ndjson; charset=latin-1",
        "",
    ],
)
def test_another_content_type_is_415(api, account, token, content_type):
    answer = post(api, "acme", ndjson([record(1)]), token, content_type=content_type)

    assert answer.status_code == 415
    assert answer.json()["error"] == "unsupported_media_type"
    assert "application/x-ndjson" in answer.json()["message"]
    assert outbox(account) == []


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_another_method_is_405(api, account, token, method):
    answer = getattr(api, method)(url("acme"), headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 405
    assert answer["Allow"] == "POST"
    assert answer.json()["error"] == "method_not_allowed"


def test_over_the_rate_limit_is_429_with_retry_after(api, account, token, settings, monkeypatch):
    settings.CRMSYNC_INTAKE_RATE_PER_MINUTE = 3
    clock = {"now": 1_800_000_000.0 + 15.5}  # 15.5 s into a minute
    monkeypatch.setattr(rate, "now", lambda: clock["now"])
    body = ndjson([record(1)])

    statuses = [post(api, "acme", body, token).status_code for _ in range(3)]
    refused = post(api, "acme", body, token)

    assert statuses == [201, 201, 201]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"
    assert refused.json()["error"] == "rate_limited"
    assert len(outbox(account)) == 3

    clock["now"] += 45  # the next minute
    assert post(api, "acme", body, token).status_code == 201


def test_the_rate_limit_counts_per_token(api, account, token, settings, monkeypatch):
    from accounts import intake_tokens
    from tests.factories import AccountFactory

    settings.CRMSYNC_INTAKE_RATE_PER_MINUTE = 1
    monkeypatch.setattr(rate, "now", lambda: 1_800_000_000.0)
    other = intake_tokens.make(AccountFactory(slug="globex"), created_by="test")

    assert post(api, "acme", ndjson([record(1)]), token).status_code == 201
    assert post(api, "globex", ndjson([record(1)]), other).status_code == 201
    assert post(api, "acme", ndjson([record(2)]), token).status_code == 429


def test_a_database_error_is_503_with_retry_after(api, account, token, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(replies, "enqueue", down)

    answer = post(api, "acme", ndjson([record(1)]), token)

    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
    assert answer.json()["error"] == "unavailable"
    assert "Connection refused" not in answer.content.decode()


def test_any_other_failure_is_a_500_without_a_traceback(api, account, token, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(replies, "enqueue", broken)

    answer = post(api, "acme", ndjson([record(1)]), token)

    assert answer.status_code == 500
    assert answer.json() == {
        "error": "internal",
        "message": "The server failed; nothing was enqueued.",
    }
