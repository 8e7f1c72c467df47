"""Records POSTed as application/x-ndjson (blank lines skipped) or as an application/json
array are enqueued in the body's order, upserts and deletes alike: 201 with `enqueued`,
`first_id`, `last_id` and `ids` in that order; a body without records is 200."""

from __future__ import annotations

import json

import pytest

from exports.models import ExportRecord
from tests.intake.conftest import NDJSON, ndjson, outbox, post, record

pytestmark = pytest.mark.django_db


def delete(n: int) -> dict[str, object]:
    return {
        "operation": "delete",
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": f"person-{n}",
    }


def test_ndjson_lines_are_enqueued_in_order(api, account, token):
    body = b"\n".join(
        [
            json.dumps(record(3)).encode(),
            b"",
            b"   ",
            json.dumps(record(1)).encode(),
            json.dumps(delete(3)).encode(),
            json.dumps(record(2, operation="upsert")).encode(),
        ]
    )

    answer = post(api, "acme", body, token)

    assert answer.status_code == 201, answer.content
    rows = list(ExportRecord.objects.filter(account=account).order_by("id"))
    assert [(r.external_id, r.operation) for r in rows] == [
        ("person-3", "upsert"),
        ("person-1", "upsert"),
        ("person-3", "delete"),
        ("person-2", "upsert"),
    ]
    assert answer.json() == {
        "enqueued": 4,
        "first_id": rows[0].id,
        "last_id": rows[-1].id,
        "ids": [r.id for r in rows],
    }
    assert rows[0].fields == {"LastName": "Person 3"}


def test_a_json_array_is_enqueued_in_order(api, account, token):
    body = json.dumps([record(n) for n in (5, 4, 6)] + [delete(5)])

    answer = post(api, "acme", body, token, content_type="application/json; charset=utf-8")

    assert answer.status_code == 201, answer.content
    assert outbox(account) == ["person-5", "person-4", "person-6", "person-5"]
    ids = answer.json()["ids"]
    assert ids == sorted(ids) and len(ids) == 4 and answer.json()["enqueued"] == 4


def test_requests_append_after_each_other(api, account, token):
    first = post(api, "acme", ndjson([record(1), record(2)]), token).json()
    second = post(api, "acme", json.dumps([record(3)]), token, content_type="application/json")

    assert second.json()["first_id"] > first["last_id"]
    assert outbox(account) == ["person-1", "person-2", "person-3"]


@pytest.mark.parametrize(
    "body, content_type",
    [(b"", NDJSON), (b"\n\n  \n", NDJSON), (b"[]", "application/json"), (b"", "application/json")],
)
def test_a_body_without_records_is_200_and_enqueues_nothing(
    api, account, token, body, content_type
):
    answer = post(api, "acme", body, token, content_type=content_type)

    assert answer.status_code == 200, answer.content
    assert answer.json() == {"enqueued": 0, "first_id": None, "last_id": None, "ids": []}
    assert outbox(account) == []


def test_an_integer_external_id_is_stored_as_text(api, account, token):
    answer = post(api, "acme", ndjson([record(1, external_id=42)]), token)

    assert answer.status_code == 201
    assert outbox(account) == ["42"]
