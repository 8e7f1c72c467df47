"""A body with a bad record enqueues none of its records: 400 naming the first bad line (an
ndjson line, or the record's position in a JSON array) and its problem, which names the
field, as `crm_enqueue` reports a bad line."""

from __future__ import annotations

import json

import pytest

from tests.intake.conftest import ndjson, outbox, post, record

pytestmark = pytest.mark.django_db


def test_a_bad_line_is_400_with_its_line_and_field_and_nothing_is_enqueued(api, account, token):
    bad = record(3)
    bad["fields"] = {"LastName": ["not", "a", "scalar"]}
    body = ndjson([record(1), record(2)]) + b"\n" + ndjson([bad, record(4), {"bad": True}])

    answer = post(api, "acme", body, token)

    assert answer.status_code == 400, answer.content
    error = answer.json()
    assert error["error"] == "invalid_record"
    assert error["line"] == 4  # the blank third line counts, as in crm_enqueue
    assert error["problem"].startswith("fields.LastName is a list")
    assert error["message"].startswith("line 4: fields.LastName is a list")
    assert error["message"].endswith("Nothing was enqueued.")
    assert outbox(account) == []


def test_a_line_that_is_not_json_is_400_with_its_line(api, account, token):
    body = ndjson([record(1)]) + b'{"sobject": "Contact",\n'

    answer = post(api, "acme", body, token)

    assert answer.status_code == 400
    assert answer.json()["line"] == 2
    assert answer.json()["problem"].startswith("not valid JSON")
    assert outbox(account) == []


def test_a_missing_key_names_the_key(api, account, token):
    incomplete = record(2)
    del incomplete["external_id_field"]

    answer = post(api, "acme", ndjson([record(1), incomplete]), token)

    assert answer.status_code == 400
    assert answer.json()["line"] == 2
    assert "external_id_field is missing" in answer.json()["problem"]
    assert outbox(account) == []


def test_a_bad_record_of_a_json_array_is_named_by_its_position(api, account, token):
    body = json.dumps([record(1), record(2), record(3, operation="merge")])

    answer = post(api, "acme", body, token, content_type="application/json")

    assert answer.status_code == 400
    assert answer.json()["line"] == 3
    assert answer.json()["problem"].startswith("operation is 'merge'")
    assert outbox(account) == []


@pytest.mark.parametrize(
    "body, says",
    [
        (b'{"sobject": "Contact"}', "not an array"),
        (b"[1, 2", "not valid JSON"),
        (b'[{"a": 1, "a": 2}]', "appears twice"),
        (b"[NaN]", "NaN is not a JSON number"),
        (b"\xff[]", "not UTF-8"),
    ],
)
def test_a_json_body_that_is_no_array_of_json_is_400(api, account, token, body, says):
    answer = post(api, "acme", body, token, content_type="application/json")

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_json"
    assert says in answer.json()["message"]
    assert outbox(account) == []
